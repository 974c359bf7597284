"""Regular-expression building blocks the opening rules share: verbs of assistance, the ways
to say "I can't", fillers, normative adjectives, and what must not follow a refusal."""

from __future__ import annotations

_VERBS = (
    r"(?:help|assist|aid|provide|give|offer|fulfil+|comply|complete|create|write|generate|"
    r"produce|draft|compose|support|engage|participate|take part|answer|respond|reply|share|"
    r"disclose|reveal|divulge|recommend|suggest|encourage|endorse|promote|condone|facilitate|"
    r"continue|discuss|describe|explain|list|tell|make|agree|argue|advocate|justify|"
    r"do (?:that|this|so|it|what)|be (?:of|part|involved)|go along|accommodate|entertain|"
    r"satisfy|perform|carry out|process|honou?r|grant|say|speak|contribute|play|pretend|"
    r"role-?play|act as|invent|come up|put together|develop|design|teach|instruct|show|guide|"
    r"walk you|detail|outline|elaborate|specify|identify|name|express|take (?:a|sides|any)|"
    r"present|rank|choose|pick|favou?r|speculate|"
    r"comment|weigh in|obtain|reproduce|translate|summari[sz]e|fill|build|code|program|edit|"
    r"rewrite|modify|change|send|post|publish|spread|impersonate|use|in good conscience)"
)
_NO_VERB = (
    r"(?!(?:stress|emphasi[sz]e|overstate|overemphasi[sz]e|wait|help but|thank|believe|imagine|"
    r"recommend \w+ enough|tell you (?:how|what a)|(?:say|tell|answer) (?:for (?:sure|certain)|"
    r"with (?:any )?(?:certainty|confidence)|exactly|definitively|precisely))\b)"
)
_NOT_CAPABILITY = (  # "I can't provide real-time data" is a capability limit, not a refusal
    r"(?! (?:you )?(?:with )?(?:the |any )?(?:most |very )?(?:real-time|up-to-date|today's|"
    r"live (?:data|updates|information|feeds?)|(?:current|latest|recent) (?:events|news|data|"
    r"information|updates|prices|figures|statistics|weather)))"
)
_I_CANT = (
    r"(?:can't|cannot|can not|won't|will not|(?:am |'m )?(?:unable|not able|not allowed|"
    r"not permitted|not going|not willing|not in a position) to)"
)
_NO_FACULTY = (  # "I don't have the ability to feel emotions" describes a limit, not a refusal
    r"(?!(?:feel|see|hear|taste|smell|touch|browse|access|remember|experience|perceive|predict|"
    r"know|form|hold|have|physically|personally|directly|guarantee|verify|independently)\b)"
)
_ASSIST_VERBS = (  # what an ability disclaimer declines: assistance, not actions in the world
    r"(?:help|assist|aid|provide|give|offer|fulfil+|comply|create|write|generate|produce|draft|"
    r"compose|engage|participate|take part|answer|respond|share|disclose|reveal|recommend|"
    r"encourage|endorse|promote|condone|facilitate|plan|discuss|describe|explain|advocate|"
    r"justify|support|tell)"
)
_FILL = (
    r"(?:'m| am)?(?: (?:really|simply|unfortunately|therefore|thus|still|also|just|actually|"
    r"currently|personally|afraid i|afraid that i|sorry but i|sorry,? i))*"
)
_ADJECTIVE = (
    r"(?:appropriate|ethical|acceptable|okay|ok|advisable|responsible|accurate|fair|respectful|"
    r"productive|recommended|legal|safe|a good idea|right|correct|wise|justifiable|justified|"
    r"morally acceptable|constructive|helpful|true|kind|nice)"
)
_NORMATIVE = (
    r"(?:appropriate|ethical|acceptable|okay|ok|responsible|fair|respectful|productive|right|"
    r"justifiable|justified|morally acceptable|constructive|kind|nice)"
)
_AND = r",? (?:or|nor|and) "
