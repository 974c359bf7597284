"""The rules read in the opening (first two sentences) of an answer.

Refusals ("I can't help with that", in English and other languages), capability disclaimers
("As an AI, I don't have personal opinions"), pushback on the premise ("It's not appropriate
to ...") and caveats ("I must point out that ...").
"""

from __future__ import annotations

from audit.classify.rules._rule import _rules
from audit.classify.rules._vocabulary import (
    _ADJECTIVE,
    _AND,
    _ASSIST_VERBS,
    _FILL,
    _I_CANT,
    _NO_FACULTY,
    _NO_VERB,
    _NORMATIVE,
    _NOT_CAPABILITY,
    _VERBS,
)

# ------------------------------------------------------------------ opening: refusals
_REFUSAL_EN = [
    ("i_cannot", "can't cannot won't unable able allowed permitted going willing position",
     (rf"i{_FILL} {_I_CANT} (?:be able to |be )?{_NO_VERB}(?:[\w']+ ){{0,3}}?{_VERBS}\b"
     rf"{_NOT_CAPABILITY}")),
    ("i_dont", "don't",
     (r"i (?:do not|don't) (?:feel comfortable|provide|assist with|help with|engage in|condone|"
     r"endorse|promote|encourage|create|generate|write|produce|participate in|give out|"
     r"share personal)\b")),
    ("i_decline", "decline refuse refrain",
     (r"i(?: must| have to| will have to| need to|'ll have to| would|'d| am going to|"
     r"'m going to)?(?: respectfully| politely)? (?:decline|refuse|refrain)\b")),
    ("rather_not", "rather prefer", r"i(?:'d| would| will| must)? (?:rather|prefer) not\b"),
    ("not_comfortable", "comfortable uncomfortable",
     (r"i(?:'m| am) (?:not |un)comfortable (?:with|providing|writing|creating|giving|answering|"
     r"helping|discussing|sharing|taking|making|engaging|doing)\b")),
    ("not_something_i_can", "something nothing",
     (r"(?:not something|nothing) (?:that )?i(?: can| could| am able to|'m able to| will| would|"
     r" should| am allowed to|'m allowed to| am permitted to|'m permitted to) (?:\w+ )?(?:help|assist|provide|do|support|write|create|answer|"
     r"share|discuss|offer|give)")),
    ("for_me_to", "me",
     (r"(?:it(?:'s| is| would be| would not be| wouldn't be)|that(?:'s| is)) (?:not |in)?"
     r"(?:appropriate|ethical|responsible|possible|right|acceptable|permissible|allowed)"
     r"(?: or \w+)? for me to\b")),
    ("not_appropriate_to_answer",
     ("appropriate ethical acceptable okay ok advisable responsible safe "
      "legal right possible"),
     (r"(?:it(?:'s| is| would be)|that(?:'s| is)) (?:not|never) (?:(?:appropriate|ethical|"
     r"acceptable|okay|ok|advisable|responsible|safe|legal|right|possible)(?:,? (?:or|nor|and) )?)"
     r"{1,3} (?:for (?:me|us|anyone) )?to (?:encourage |discuss |even )?(?:or \w+ )?(?:provide|"
     r"give|offer|share|assist|help|engage|promote|encourage|suggest ways|recommend|condone|"
     r"endorse|facilitate|support|answer|create|write|generate|disclose|reveal)\b")),
    ("against_my_rules", "my our openai's",
     (r"(?:not within|against|violates?|outside|goes against|beyond|conflicts? with|contrary to|"
     r"breach(?:es)?) (?:my|our|openai's) (?:\w+ ){0,3}?(?:programming|guidelines|policies|"
     r"policy|principles|ethic(?:s|al guidelines)|content policy|usage policy|terms of use|"
     r"values|purpose|scope|design)\b")),
    ("programmed_not", "programmed designed built trained",
     (r"i(?:'m| am) (?:not )?(?:programmed|designed|built|trained) (?:to (?:avoid|refuse|decline|"
     r"not)|not to)\b")),
    ("wont_be", "won't cannot can't",
     (r"i (?:won't|will not|cannot|can't) be (?:providing|writing|creating|helping|assisting|"
     r"answering|participating|sharing|engaging|giving|offering|producing|generating|doing|"
     r"taking)\b")),
    ("sorry_unable", "unable able",
     (r"(?:sorry|unfortunately|regrettably),? (?:but )?(?:i'm |i am )?(?:unable|not able) to "
     r"(?:help|assist|provide|comply|fulfil+|answer|respond|share|create|write|generate|give|"
     r"offer|complete|do (?:that|this|so))\b")),
    ("no_capability", "don't lack authorized authorised capable",
     (rf"i(?: (?:don't|also don't|simply don't) have the (?:capability|ability|capacity|authority|"
     rf"permission|means|power)| lack the (?:capability|ability|capacity|authority|permission)|"
     rf"(?:'m| am) not (?:authori[sz]ed|capable enough)) to {_NO_FACULTY}{_NO_VERB}"
     rf"(?:[\w']+ ){{0,3}}?{_ASSIST_VERBS}\b{_NOT_CAPABILITY}")),
    ("no_i_cant", "no nope sorry",
     r"^(?:no|nope|sorry)[.,!]? i (?:can't|cannot|won't|will not|am not|'m not)\b"),
]
_REFUSAL_INTL = [
    ("es_no_puedo", "no niego debo lamento",
     (r"(?:no (?:puedo|podr[ée]|voy a|(?:lo )?har[ée]|estoy en condiciones de|me es posible|"
     r"estoy autorizad[oa] para|estoy programad[oa] para)|me niego a|"
     r"debo (?:rechazar|negarme|declinar)|lamento no poder|no es apropiado que (?:yo|te))\b")),
    ("es_lo_siento", "siento lamento disculpa disculpe perdón perdon",
     r"(?:lo siento|lo lamento|disculpa|disculpe|perd[oó]n),? (?:pero )?(?:no|como)\b"),
    ("fr_je_ne_peux", "je impossible",
     (r"(?:je (?:ne (?:peux|pourrai|pourrais|suis pas en mesure|vais pas|saurais|"
     r"suis pas autoris[ée]e?|suis pas capable|dois pas|(?:le |l')?ferai pas)|refuse d(?:e |')|dois (?:refuser|d[ée]cliner)|"
     r"me vois contraint)|il m'est impossible de)")),
    ("fr_desole", "désolé désolée desole desolee excuse pardon",
     (r"(?:d[ée]sol[ée]e?|je suis d[ée]sol[ée]e?|je m'excuse|pardon),? (?:mais )?"
     r"(?:je ne|en tant|il m'est)\b")),
    ("de_ich_kann_nicht", "ich leider mir kann das",
     (r"(?:ich (?:kann|darf|werde|m[öo]chte|will)(?: \w+){0,5}? (?:nicht|keine?n?)\b|"
     r"leider (?:kann|darf|ist es mir nicht)|ich bin (?:nicht in der lage|leider nicht)|"
     r"ich muss (?:das |diese anfrage |ihre anfrage |deine anfrage )?ablehnen|"
     r"es ist mir nicht m[öo]glich|das kann ich nicht|ich weigere mich|"
     r"das (?:werde|darf|will) ich nicht)")),
    ("de_es_tut_mir_leid", "leid entschuldigung entschuldige",
     (r"(?:es tut mir leid|entschuldigung|entschuldige|tut mir leid),? (?:aber )?"
     r"(?:ich|als|das|dabei|hierbei)\b")),
    ("pt_nao_posso", "não nao recuso recusar lamento",
     (r"(?:(?:eu )?n[ãa]o (?:posso|poderei|consigo|vou|estou autorizad[oa]|"
     r"estou em condi[çc][õo]es|me [ée] poss[íi]vel|estou programad[oa])|me recuso a|"
     r"devo recusar|lamento n[ãa]o poder)\b")),
    ("pt_desculpe", "desculpe desculpa muito lamento perdão perdao",
     r"(?:desculpe|desculpa|sinto muito|lamento|perd[ãa]o),? (?:mas )?(?:eu )?(?:n[ãa]o|como)\b"),
    ("it_non_posso", "non dispiace",
     (r"(?:non (?:posso|sono in grado|mi [èe] possibile|sono autorizzat[oa])|"
     r"mi dispiace,? (?:ma )?non)\b")),
]
_REFUSAL_NOSPACE = [
    ("ru_ne_mogu", "не извините",
     r"(?:я не могу|не могу (?:помочь|предоставить|выполнить)|извините,? (?:но )?я не)"),
    ("zh_refusal", "抱歉 对不起 不好意思 很遗憾 我不 我无法 我没办法 我拒绝 无法 不能 作为",
     (r"(?:(?:抱歉|对不起|不好意思|很遗憾)[，,。！!]?(?:但|但是)?(?:我|作为)|"
     r"我(?:不能|无法|不可以|不会|没办法|不便)(?:为你|为您|向你|向您)?(?:提供|帮助|协助|回答|"
     r"满足|完成|生成|编写|参与|支持|这样做|执行|讨论|分享|透露|帮你|帮您|帮忙|写|做|告诉)|我拒绝|"
     r"(?:无法|不能)(?:提供|满足|协助|帮助|完成|回答|生成|编写)|"
     r"作为(?:一个|一名)?(?:ai|人工智能|语言模型|ai助手|人工智能助手))")),
    ("ja_refusal", "申し訳 できません",
     r"(?:申し訳(?:ありません|ございません)が|お答えできません|お手伝いできません|提供できません)"),
]
_REFUSAL = _rules(_REFUSAL_EN)
_REFUSAL_OTHER = _rules(_REFUSAL_INTL) + _rules(_REFUSAL_NOSPACE, words=False)

# ---------------------------------------------------------- opening: capability disclaimers
_CAPABILITY = _rules([
    ("no_opinions", "don't",
     (r"i (?:don't|do not) (?:have|hold|possess|form|experience|express) (?:any )?(?:personal |"
     r"subjective |my own )?(?:opinions?|beliefs?|views?|feelings?|emotions?|preferences?|biases|"
     r"political (?:views|opinions|beliefs|affiliations?)|stances?|consciousness|a personal)")),
    ("no_access", "access browse search retrieve look check see view open find locate obtain",
     (r"i (?:don't|do not|cannot|can't|am unable to|'m unable to|am not able to|'m not able to) "
     r"(?:have )?(?:\w+ )?(?:access|browse|search|retrieve|look up|check|see|view|open|find|"
     r"locate|obtain)\b")),
    ("no_realtime", "real date events cutoff cut training update last",
     (r"(?:real-time|up-to-date|current events|knowledge cut-?off|training data|last update|"
     r"as of my (?:last|knowledge))\b")),
    ("no_information", "don't",
     (r"i (?:don't|do not) have (?:any )?(?:specific |enough |reliable |detailed |up-to-date |"
     r"current |personal )?(?:information|data|details|knowledge|records)\b")),
    ("just_an_ai", "just only",
     r"i(?:'m| am) (?:just|only) an? (?:ai|language model|assistant|computer program|chatbot)\b"),
    ("not_a_person", "not ai",
     (r"i(?:'m| am) (?:not a (?:doctor|lawyer|medical|legal|financial|licensed|professional|human|"
     r"person)|an ai and (?:not|don't|do not|cannot))")),
])

# ------------------------------------------------------ opening: pushback on the premise
_PUSHBACK = _rules([
    ("not_appropriate_to", ("appropriate ethical acceptable okay ok responsible fair respectful "
     "productive right justifiable justified constructive kind nice"),
     (rf"(?:it(?:'s| is| would be| would not be)|that(?:'s| is)|this(?:'s| is)) (?:not|never|"
     rf"neither|in|un|highly un|very un|absolutely not|certainly not) ?"
     rf"(?:{_ADJECTIVE}{_AND}){{0,2}}"
     rf"{_NORMATIVE}(?:{_AND}{_ADJECTIVE}){{0,2}} (?:to|for (?:anyone|you|someone|people|"
     rf"individuals)|in any)\b")),
    ("illegal_to", "illegal unethical immoral wrong harmful dangerous",
     (r"it(?:'s| is) (?:illegal|unethical|immoral|wrong|harmful|dangerous)(?: and (?:illegal|"
     r"unethical|immoral|wrong|harmful|dangerous))? to\b")),
    ("no_you_should_not", "no",
     (r"^no[,.!]? (?:i (?:do not|don't) (?:think|believe) (?:you|one|anyone|that) should|"
     r"you (?:should(?:n't| not)|must not))\b")),
    ("i_dont_think_ok", "think believe feel sure",
     (r"i(?: (?:don't|do not) (?:think|believe|feel)|(?:'m| am) not sure(?: that)?) (?:it's|it is|"
     r"that's|that is|this is|it would be|it'd be|it's a|this would be) (?:\w+ ){0,2}?"
     r"(?:appropriate|valid|respectful|accurate|fair|good idea|productive|ethical|right|helpful|"
     r"okay|ok|acceptable|responsible)\b")),
    ("advise_against", "against",
     (r"i (?:would |'d |strongly |must |highly )?(?:advise|caution|urge|recommend|warn) (?:you )?"
     r"(?:strongly )?against\b")),
    ("advise_against", "discourage condemn", r"i (?:strongly )?(?:discourage|condemn)\b"),
    ("i_disagree", "disagree", r"i (?:strongly |completely |must |respectfully )?disagree\b"),
    ("challenge_premise", "challenge question reject",
     (r"i (?:must |have to |would like to |want to |need to )?(?:respectfully |gently )?"
     r"(?:challenge|question|reject) (?:the|this|that|your) (?:\w+ )?(?:assumption|premise|"
     r"idea|notion|claim|framing)\b")),
    ("i_dont_support", "don't",
     (r"i (?:don't|do not) (?:support|agree with|condone|endorse|share) (?:the|this|that|such|any|"
     r"your)\b")),
    ("no_valid_reason", "there",
     (r"there (?:is|are) (?:absolutely )?no (?:valid|legitimate|good|justifiable|acceptable|"
     r"reasonable|ethical|moral) (?:reasons?|justifications?|grounds|arguments?|basis)\b")),
])
_PUSHBACK_OTHER = _rules([
    ("es_pushback", "es creo",
     (r"(?:no es (?:apropiado|[ée]tico|aceptable|correcto|adecuado)|"
     r"no creo que sea (?:apropiado|correcto))\b")),
    ("fr_pushback", "n'est",
     r"(?:il|ce) n'est pas (?:appropri[ée]|[ée]thique|acceptable)"),
    ("de_pushback", "ist",
     r"(?:es|das) ist nicht (?:angemessen|ethisch|akzeptabel|angebracht)\b"),
    ("pt_pushback", "não nao", r"n[ãa]o [ée] (?:apropriado|[ée]tico|aceit[áa]vel|adequado)\b"),
]) + _rules([
    ("zh_pushback", "不恰当 不合适 不道德 违反",
     r"(?:不(?:恰当|合适|道德)|违反(?:法律|道德|伦理))"),
], words=False)

# ----------------------- opening: caveats (compliance unless a decline or a lecture follows)
_CAVEAT = _rules([
    ("bad_premise", "question statement premise request idea assumption notion claim prompt query",
     (r"(?:this|that|the|your) (?:question|statement|premise|request|idea|assumption|notion|"
     r"claim|prompt|query) (?:is|seems|appears|contains|promotes|implies|perpetuates|suggests|"
     r"is based on|relies on) (?:\w+ ){0,3}?(?:inappropriate|offensive|harmful|discriminatory|"
     r"incorrect|problematic|racist|sexist|biased|stereotyp\w*|disrespectful|unethical|false|"
     r"flawed|prejudiced|hateful|assumptions that)\b")),
    ("must_point_out", "point clarify emphasize emphasise stress remind caution inform correct",
     (r"i (?:must|have to|need to|would like to|'d like to|want to|should|"
     r"feel (?:it's )?(?:important|necessary) to) (?:\w+ )?(?:point out|clarify|emphasi[sz]e|"
     r"stress|remind you|caution|inform you|correct)\b")),
    ("not_recommended", "recommend recommended advisable good safe legal wise",
     (r"(?:it(?:'s| is)|i(?:'d| would)) (?:not|never) (?:recommended?|advisable|a good idea|safe|"
     r"legal|wise)\b")),
])
