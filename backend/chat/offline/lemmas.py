"""Verb forms back to their lemma: "bought" -> "buy", "went" -> "go", "called" -> "call".

People say what they did in the past tense ("I called the dentist", "went to the post office")
while tasks are written in the base form ("Call the dentist", "Go to the post office"). Regular
past tenses are cut by rule (see `words.stem`); the irregular ones come from this table: the
common English irregular verbs (base, past, past participle), from any grammar's list. No
library: the table is small, and a word list of this size needs no download or licence. To add
a verb, add its line.
"""

from __future__ import annotations

_TABLE = """
arise arose arisen | awake awoke awoken | be was been | bear bore borne | beat beat beaten |
become became become | begin began begun | bend bent bent | bet bet bet | bind bound bound |
bite bit bitten | bleed bled bled | blow blew blown | break broke broken | breed bred bred |
bring brought brought | broadcast broadcast broadcast | build built built | burn burnt burnt |
buy bought bought | catch caught caught | choose chose chosen | come came come |
cost cost cost | creep crept crept | cut cut cut | deal dealt dealt | dig dug dug |
do did done | draw drew drawn | dream dreamt dreamt | drink drank drunk | drive drove driven |
eat ate eaten | fall fell fallen | feed fed fed | feel felt felt | fight fought fought |
find found found | fly flew flown | forbid forbade forbidden | forget forgot forgotten |
forgive forgave forgiven | freeze froze frozen | get got gotten | give gave given |
go went gone | grind ground ground | grow grew grown | hang hung hung | have had had |
hear heard heard | hide hid hidden | hit hit hit | hold held held | hurt hurt hurt |
keep kept kept | kneel knelt knelt | know knew known | lay laid laid | lead led led |
lean leant leant | learn learnt learnt | leave left left | lend lent lent | let let let |
lie lay lain | light lit lit | lose lost lost | make made made | mean meant meant |
meet met met | mow mowed mown | pay paid paid | put put put | quit quit quit | read read read |
redo redid redone | rebuild rebuilt rebuilt | repay repaid repaid | resend resent resent |
rewrite rewrote rewritten | ride rode ridden | ring rang rung | rise rose risen | run ran run |
say said said | see saw seen | seek sought sought | sell sold sold | send sent sent |
set set set | sew sewed sewn | shake shook shaken | shine shone shone | shoot shot shot |
show showed shown | shrink shrank shrunk | shut shut shut | sing sang sung | sink sank sunk |
sit sat sat | sleep slept slept | slide slid slid | speak spoke spoken | spend spent spent |
spin spun spun | split split split | spread spread spread | stand stood stood |
steal stole stolen | stick stuck stuck | sting stung stung | strike struck struck |
sweep swept swept | swim swam swum | swing swung swung | take took taken | teach taught taught |
tear tore torn | tell told told | think thought thought | throw threw thrown |
understand understood understood | undo undid undone | upset upset upset | wake woke woken |
wear wore worn | weave wove woven | win won won | wind wound wound | withdraw withdrew withdrawn |
write wrote written
"""


def _forms() -> dict[str, str]:
    forms: dict[str, str] = {}
    for entry in _TABLE.split("|"):
        base, past, participle = entry.split()
        for form in (past, participle):
            if form != base:
                forms.setdefault(form, base)
    return forms


# Irregular past and participle forms -> base. Forms equal to their base ("put", "cut", "read")
# are left out: they are no evidence of a past tense.
IRREGULAR_PAST = _forms()
# Past forms that are also common words of another kind, never taken as "I did X".
_AMBIGUOUS = frozenset({"left", "ground", "wound", "lay", "lead", "bore", "fell", "rose"})


def irregular_lemma(word: str) -> str | None:
    """The base form of an irregular past tense or participle, else None."""
    return IRREGULAR_PAST.get(word.lower())


def past_tense_lemma(word: str) -> str | None:
    """The lemma when `word` is a past tense ("went" -> "go", "emailed" -> "emailed": regular
    forms keep their spelling, the matcher's stemmer meets "email" with it), else None."""
    lowered = word.lower()
    if lowered in _AMBIGUOUS:
        return None
    if lowered in IRREGULAR_PAST:
        return IRREGULAR_PAST[lowered]
    if lowered.endswith("ed") and len(lowered) >= 5 and not lowered.endswith("eed"):
        return lowered
    return None
