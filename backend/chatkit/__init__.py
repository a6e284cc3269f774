"""`POST /chatkit`: OpenAI ChatKit's server protocol (the `openai-chatkit` package) on our own
conversations, messages and chat turn.

    router.py    the route: the caller from the bearer token, errors as HTTP or ChatKit events
    server.py    the ChatKitServer: which requests are supported, a user message runs a turn
    store.py     the ChatKit Store on our tables (a thread is a conversation)
    items.py     stored messages as ChatKit thread items, and item ids
    queries.py   the SQL behind the store, every query scoped to the user
    turn.py      the one adapter onto the chat turn of `/chat`
"""
