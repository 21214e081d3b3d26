"""A plain blocking script: ``pp.Postpress`` fetches a few chats and prints their names.

    export POSTPRESS_API_KEY=...        # and POSTPRESS_BASE_URL for a fake server
    python examples/sync_script.py chat_01HX... chat_01HY...
    printf 'chat_01HX...\\n' | python examples/sync_script.py

Prints ``id<TAB>account type<TAB>name`` per chat; a chat that is not found is reported on
stderr and the script goes on. Exits 1 if any id failed.
"""

from __future__ import annotations

import sys

import postpress_async as pp


def main(argv: list[str]) -> int:
    chat_ids = argv or [line.strip() for line in sys.stdin if line.strip()]
    failed = 0
    with pp.Postpress() as client:
        for chat_id in chat_ids:
            try:
                chat = client.chats.retrieve(chat_id)
            except pp.NotFoundError:
                print(f"{chat_id}: not found", file=sys.stderr)
                failed += 1
                continue
            print(f"{chat.id}\t{chat.account_type}\t{chat.name or '(no name)'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
