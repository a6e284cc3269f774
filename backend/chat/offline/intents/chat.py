"""Small talk: greetings, thanks, help, goodbyes, "never mind"."""

from __future__ import annotations

import re

from backend.chat.offline.intents.kinds import Intent, IntentKind

I = re.IGNORECASE  # noqa: E741

_GREETING = re.compile(
    r"^(?:hi|hello|hey|hiya|heya|howdy|yo|hola|greetings|sup|what's up|whats up|"
    r"good (?:morning|afternoon|evening|day)|morning|evening|hey hey|hello hello|hi hi)"
    r"(?:\s+(?:there|again|bot|assistant|buddy|friend|you|all|everyone|mate))?"
    r"(?:[\s,]+(?:how are you|how's it going|how are things))?$|"
    r"^(?:how are you(?: doing)?|how's it going|how do you do|nice to meet you)$",
    I,
)
_THANKS = re.compile(
    r"^(?:(?:thanks|thank you|thank u|thx|ty|tysm|cheers|much appreciated|appreciate it|"
    r"many thanks|great|awesome|perfect|cool|nice|ok|okay|k|kk|got it|sounds good|"
    r"that's all|that is all|all good|good|excellent|brilliant|super|lovely|wonderful|fantastic|"
    r"all done|nothing|nothing else|nope|no|no thanks|no thank you|yes|yep|yeah|sure|fine|"
    r"great job|good job|well done|nice one|that's it|that is it|that's great|that's perfect|"
    r"alright|all right|right|understood|noted|amazing|sweet|neat|wow|done|ok cool|"
    r"that's everything|i'm good|im good|i'm done|im done|we're done)"
    r"(?:[\s,!.]+(?:a lot|so much|very much|a bunch|that's all|for now|for your help|"
    r"for the help|mate|buddy|again|thanks|thank you|bot))*)$",
    I,
)
_HELP = re.compile(
    r"^(?:help|help me|\?+|what can you do(?: for me)?|what can i do(?: here)?|what do you do|"
    r"what are you|who are you|what are you able to do|what else can you do|"
    r"how does (?:this|it) work|how do i use (?:this|you|it)|how do you work|what can i say|"
    r"what can i ask(?: you)?|what should i say|commands|options|menu|instructions|usage|"
    r"are you (?:an? )?(?:ai|bot|robot|human|real|llm|gpt|chatgpt|person|language model)|"
    r"what model (?:are you|is this)|which model (?:are you|is this)|what are your "
    r"(?:capabilities|features|commands|options)|how do i (?:add|delete|remove|complete|use|"
    r"rename|list|start|update|edit|change)\b.*|what is this|what's this|"
    r"(?:can|could) you help(?: me)?|i need help|show (?:me )?(?:the )?(?:commands|help|options)|"
    r"what are the commands|tell me (?:about yourself|what you can do)|"
    r"(?:are you|is this) (?:offline|online)|do you understand(?: me)?|"
    r"who (?:made|built|created|wrote|are) you|what(?:'s| is) your name|"
    r"what are you called|how smart are you|are you smart)$",
    I,
)
_BYE = re.compile(
    r"^(?:bye|goodbye|good bye|bye bye|good night|goodnight|see you|see ya|see you later|later|"
    r"cya|take care|ttyl|farewell)(?:[\s,!]+(?:now|then|for now|thanks|thank you))*$",
    I,
)


_CANCEL = re.compile(
    r"^(?:(?:no\s*,?\s*)?(?:don't|do not|dont|please don't|pls don't)\s+(?:add|delete|remove|"
    r"complete|mark|do|change|rename|update|touch|clear)\b.*|never ?mind|nvm|forget it|"
    r"cancel(?: that)?|stop|no,? (?:don't|do not|stop)|scratch that|ignore that)$",
    I,
)


# Tried in this order on the clause as typed, then on it cleaned of fillers.
RULES = (
    (IntentKind.CANCEL, _CANCEL),
    (IntentKind.HELP, _HELP),
    (IntentKind.GREET, _GREETING),
    (IntentKind.THANKS, _THANKS),
    (IntentKind.BYE, _BYE),
)
EXAMPLES = (
    ("never mind", IntentKind.CANCEL),
    ("what can you do?", IntentKind.HELP),
    ("good morning", IntentKind.GREET),
    ("thanks a lot!", IntentKind.THANKS),
    ("bye for now", IntentKind.BYE),
)


def parse_chat(text: str) -> Intent | None:
    bare = text.strip(" .!?,").lower()
    for kind, pattern in RULES:
        if pattern.match(bare):
            return Intent(kind, text=text)
    return None
