"""The ``rules`` provider: deterministic, offline triage from the alert's own words.

The rules are data: weighted regular expressions per category and per severity step, in
the tables below. The classifier sums the weights of the signals found in an alert's
headline (title and alert name, which count fully) and description (which counts less,
as it often speculates about causes), takes the best-scoring category, and falls back to
``unknown`` when nothing names latency, connectivity or resource exhaustion clearly.
``unknown`` has signals of its own (error rates, failed jobs, configuration, hardware,
certificates...) so that an alert about failures is not pulled into a category by an
incidental word.

What the categories mean, as an on-call engineer reads them:

- latency: something is slow (latency, p99, response or wait time, lag, delay, timeouts
  of requests, durations);
- connectivity: something cannot be reached (down, unreachable, missing targets or
  nodes, no leader, connection errors, DNS, network, packet loss, broken replication);
- resource_exhaustion: something is running out or full (disk, memory, CPU, file
  descriptors, inodes, quotas and rate limits, saturated pools, queues and backlogs);
- unknown: anything else, mostly errors and failures whose cause the text does not name.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from warden.domain import Category, Severity
from warden.triage.provider import TriageReply, TriageRequest

_LAT = Category.LATENCY.value
_CONN = Category.CONNECTIVITY.value
_RES = Category.RESOURCE_EXHAUSTION.value
_UNK = Category.UNKNOWN.value


@dataclass(frozen=True, slots=True)
class Signal:
    """A pattern that, when found, adds ``weight`` to ``category``'s score."""

    category: str
    pattern: re.Pattern[str]
    weight: float


def _signals(category: str, *rules: tuple[str, float]) -> tuple[Signal, ...]:
    return tuple(Signal(category, re.compile(p), w) for p, w in rules)


# Something out of service, but not something "slowing down".
_DOWN = r"(?<!slowing )(?<!slows )(?<!slow )\bdown\b"

# Patterns run on lower-cased text with CamelCase alert names split into words.
SIGNALS: tuple[Signal, ...] = (
    *_signals(
        _LAT,
        (r"\blatenc(y|ies)\b", 3),
        (r"\bslow(ness|ly|er|est)?\b", 3),
        (r"\bresponse times?\b|\brequest times?\b|\bwait(ing)? times?\b", 3),
        (r"\bp(50|75|90|95|99|999)\b|\bpercentile\b|\bquantile\b", 1.5),
        (r"\blag(s|ging|ged)?\b", 2),
        (r"\bdelay(s|ed)?\b", 2),
        (r"\bstall(s|ed|ing)?\b|\bwaits\b", 2),
        (r"\btime(d|s)? ?outs?\b|\btiming out\b", 2),
        (r"\bdurations?\b", 2),
        # "... for longer than 15 minutes" says how long a state lasted, not that work is slow.
        (r"\b(took|taking|take|takes) (more|longer) than\b|(?<!for )\blonger than\b", 2),
        (r"\bin time\b|\bto be picked up\b", 1),
        (r"\bspeed\b|\bround.?trip\b|\brtt\b|\bjitter\b", 1.5),
        (r"\bperformance degradation\b|\bdegraded performance\b|\bsluggish\b", 1.5),
    ),
    *_signals(
        _CONN,
        (_DOWN, 3),
        (r"\bunreachable\b|\bnot reachable\b|\bcannot (be )?reach|\bout of service\b", 3),
        (r"\b(is |are |has |have )?disappeared\b", 3),
        (r"\boffline\b|\bdisconnect(ed|ion|s)?\b", 3),
        (
            r"\bconnection (errors?|failures?|failed|issues?|timeouts?|lost|reset|refused|drops?)"
            r"|\b(failed|failing|unable) to connect\b|\brefused connection"
            r"|\b(not|cannot|can't|can not) (be )?connect(ed)?\b"
            r"|\b(lose|loses|losing|lost) (the |their |its )?connections?\b",
            3,
        ),
        (r"\bno (elected |active )?leader\b|\bmissing leader\b|\bleader(less| lost)\b", 3),
        (
            r"\b(targets?|jobs?|nodes?|endpoints?|instances?|members?|peers?|exporters?|hosts?)"
            r" (is |are )?(missing|absent)\b"
            r"|\bmissing ([\w-]+ )?(targets?|jobs?|nodes?|members?|peers?|instances?|endpoints?"
            r"|master)\b|\bno targets?\b",
            3,
        ),
        (r"\bno\b[\w\s/-]{0,30}\b(alive|online|healthy upstream|reachable|connected)\b", 3),
        (r"\bdns\b|\bservfail\b|\bnxdomain\b|\bname resolution\b", 3),
        (
            r"\breplication (link )?(broken|lost|stopped|down)\b|\bbroken replication\b"
            r"|\blost (a |its )?(slave|replica|master|primary)\b"
            r"|\b(slave|replica|replication)\b[\w ]{0,20}\bnot running\b",
            3,
        ),
        (r"\bnetwork(ing)?\b", 2),
        (r"\bunavailable\b|\bnot (live|alive|responding|ready|active|available|accepting)\b", 2),
        # Fewer live members than wanted, or members cut off from each other.
        (r"\bunready\b|\blive nodes?\b|\b(cluster|network) partition(ed|s)?\b|\bpartitioned\b", 2),
        (r"\bheartbeats?\b|\bcommunicat(e|ion|ing)\b", 2),
        (r"\bpackets?\b|\bpacket loss\b", 2),
        (r"\binterfaces?\b|\bbond(ing)?\b|\blink (down|flapping)\b", 2),
        (r"\bbgp\b|\bvpn\b|\bfloating ips?\b|\bsplit.?brain\b", 2),
        (r"\bprobe (failed|failure)\b|\bping\b", 3),
        (r"\bupstream\b|\babsent\b|\bquorum\b", 1),
        (r"\bmissing\b", 0.5),
    ),
    *_signals(
        _RES,
        (r"\bout of (disk|space|memory|inodes|file descriptors|capacity|resources)\b", 3),
        (r"\bdisk (space|usage|full|pressure)\b|\bfree space\b|\bdiskpressure\b", 3),
        (r"\b(almost|nearly|near|is|are|getting|too|on)[ -]full\b|\bfill(ing|s)? up\b", 3),
        (r"\bfull\b(?! (gc|state|sync|scan|backup|resync|snapshots?))", 1),
        (r"\boom\b|\bout.?of.?memory|\boomkill", 3),
        (r"\brunning out\b|\bruns? out\b|\bwill fill\b|\bfill(s|ing)? in\b", 3),
        (r"\bmemory (pressure|leak)\b|\bmemorypressure\b", 3),
        (r"\bmemory\b|\bheap\b|\bram\b|\bswap\b", 2),
        (r"\bcpu\b|\bthrottl(ed|ing)\b", 2),
        (r"\binodes?\b|\bfile descriptors?\b|\bopen files\b|\bfds\b", 3),
        (r"\bquotas?\b|\brate.?limit(s|ed|ing)?\b", 3),
        (r"\bexhaust(ed|ion|ing)?\b|\bsaturat(ed|ion|ing)\b|\boverload(ed)?\b", 3),
        (
            r"\b(max|maximum)\b[\w\s-]{0,40}\b(reached|hit)\b|\breach(ed|ing)? (the |its )?"
            r"(max|maximum|limit)|\b(reaching|approaching|exceed(s|ed|ing)?|over) (the |its )?"
            r"([\w-]+ ){0,2}limits?\b|\b\d+ ?% of (the |its )?([\w-]+ )?(limit|max(imum)?)\b"
            r"|\b(sessions?|connections?|threads?|workers?|clients?|process(es)?) limits?\b",
            2,
        ),
        (
            r"\blow (on )?(free |disk |storage )?(space|storage|memory|heap)\b"
            r"|\b(space|storage) is low\b",
            3,
        ),
        (r"\bcapacity\b|\butili[sz](ation|ed)\b|\busage\b|\bbackpressure\b", 2),
        (r"\bbacklog\b|\bbacking up\b|\bpiling up\b|\bbacked up\b", 3),
        # Work that waits for a free worker: blocked tasks, blocked evaluations.
        (
            r"\bblocked (tasks|jobs|evaluations?|operations|requests in queue)\b"
            r"|\b(tasks|jobs|evaluations) (are |is )?blocked\b",
            2,
        ),
        (r"\bthroughput\b", 2),
        (r"\btoo much (data|traffic)\b|\btoo many ([\w-]+ )?(messages|items|tasks|jobs)\b", 2),
        # Traffic filling a network path: a capacity problem, whatever "network" suggests.
        (
            r"\b(network|interface|link)s? (throughput|saturat(ed|ion)|overload(ed)?"
            r"|utili[sz]ation|bandwidth)\b",
            2,
        ),
        (r"\bconsumer (group )?lag\b|\blag\b[^.]{0,40}\bmessages\b|\boffset lag\b", 3),
        (r"\bqueue(s|d)?\b|\bqueuing\b|\bqueueing\b", 2),
        (
            r"\bpending (requests|tasks|bytes|messages|jobs|operations|writes)\b"
            r"|\b(requests|tasks|bytes|messages|jobs|operations|writes) (are )?pending\b",
            2,
        ),
        (r"\bpending\b", 1),
        (r"\bgc\b|\bgarbage collect(ion|or)?\b", 2),
        (r"\bthread ?pool\b|\bworkers (busy|load)\b|\bbusy\b|\bmax[ -]children\b", 2),
        (r"\bbandwidth\b|\biops\b|\bwatermark\b", 2),
        (r"\bload\b(?! ?balanc)|\bsteal\b|\bthreads?\b|\bstorage\b|\bdisks?\b", 1),
        (r"\btoo many\b|\bhigh number of\b|\blarge number of\b", 0.5),
        (r"\bresources?\b|\blimits?\b|\ballocations?\b|\breject(ed|ion|ions|ing)\b", 1),
        # Counted things a server has a fixed number of.
        (r"\bconnections\b|\bcursors\b|\bsessions\b|\bfile handles\b|\bconnection pool\b", 1.5),
        (r"\bunable to scale\b|\bmax(imum)? replicas\b", 2),
    ),
    *_signals(
        _UNK,
        (r"\b[45]xx\b|\bhttp [45]\d\d\b", 3),
        (r"\berrors?\b|\berror rate\b|\bexceptions?\b", 1.5),
        (r"\bfail(ed|s|ure|ures|ing)?\b", 1.5),
        (r"\bconfig(uration|s)?\b|\breload(s|ed|ing)?\b", 2),
        (r"\brestart(s|ed|ing)?\b|\bcrash(ed|es|ing)?\b|\bdied\b", 2),
        # A panic is the program's own failure, whatever the component is named after.
        (r"\bpanic(s|ked)?\b", 3),
        (r"\bnot running\b", 1.5),
        (r"\bdeadlock(s|ed)?\b|\block contention\b|\bcorrupt(ed|ion)?\b|\bdata loss\b", 3),
        (
            r"\bhardware\b|\btemperature\b|\bovertemperature\b|\bthermal\b|\bfans?\b|\bcooling\b"
            r"|\bvoltage\b|\bbattery\b|\bups\b|\bpsu\b|\bsmart\b|\bipmi\b|\bedac\b|\becc\b"
            r"|\buncorrectable\b|\bsectors?\b|\bcurrent sensor\b|\braid\b",
            3,
        ),
        (r"\bclock\b|\bntp\b|\bskew\b", 3),
        (r"\bcardinality\b|\bcertificates?\b|\bocsp\b|\bexpir(y|es|ed|ing)\b", 2),
        (r"\bauthenticat(ion|ed)\b|\blogins?\b|\bcredentials?\b|\btokens?\b|\bregistration\b", 2),
        (r"\bspend\b|\bbudget\b|\bbilling\b|\bcost\b", 2),
        (r"\bunhealthy\b|\bnot healthy\b|\bhealth\b|\byellow\b|\bstatus\b|\bout of sync\b", 1),
        (r"\bunderutili[sz]ed\b|\bidle\b", 3),
        # Too few of something is a misconfiguration, not something running out.
        (r"\bnot enough\b|\btoo few\b|\bshould have more\b", 1.5),
    ),
)

# Severity steps: a score >= 2 is critical, 1 is high, 0 medium; a "low" signal wins over
# a score below 2. Connectivity starts at 1: something unreachable is rarely minor.
_SEVERITY_SIGNALS: tuple[tuple[re.Pattern[str], int], ...] = tuple(
    (re.compile(p), d)
    for p, d in (
        (r"\bcritical(ly)?\b|\bemergency\b|\bfatal\b|\bsevere(ly)?\b|\bimmediate(ly)?\b", 2),
        (r"\bdata loss\b|\bcorrupt(ed|ion)?\b|\bpermanent\b|\bread.?only\b", 2),
        # States that are broken outright, not degraded: an expired or revoked credential, a
        # sealed vault, a red cluster, a panicking process, two primaries.
        (r"\bexpired\b|\brevoked\b|\bsealed\b|\bred\b|\bpanic(s|ked)?\b", 2),
        (r"\bsplit.?brain\b|\btoo many (masters|leaders|primar(y|ies))\b", 2),
        (_DOWN + r"|\bno (elected |active )?leader\b|\bcrash(ed)?\b|\bdied\b", 1),
        (r"\bmissing\b|\bdisappeared\b", 1),
        (r"\bunavailable\b|\bcannot\b|\bunable to\b|\bno\b[\w\s]{0,20}\b(alive|online)\b", 1),
        # HTTP error rates are what users see: critical even when only "high".
        (r"\b[45]xx\b|\bhttp [45]\d\d\b", 2),
        (r"\bstopped\b|\bnot ingesting\b|\bhas not\b", 1),
        # Data not fully placed (unassigned shards, incomplete groups), work wedged, a node
        # under a pressure condition.
        (r"\bunassigned\b|\bincomplete\b|\bstuck\b|\bpressure\b", 1),
        # "very high" undoes what a plain "high" takes off; "highly", "very slow" escalate.
        (r"\bvery (high|large|slow)\b|\bhighly\b", 1),
        (r"\bwarning\b|\bapproaching\b|\bnearly\b|\bgrowing\b|\bunusual\b|\bpotential(ly)?\b", -1),
        (r"\bmay\b|\bmight\b|\bhigh\b|\btoo many\b", -1),
    )
)
_LOW_SEVERITY = re.compile(
    r"\bunderutili[sz]ed\b|\brecently\b|\brestarted\b|\binitiali[sz]ing\b|\binfo(rmational)?\b"
    r"|\bconsider\b|\bunused\b|\bnot (auto )?analy[sz]ed\b"
)
_START_SEVERITY = {_CONN: 1}
_CRITICAL_TITLE = re.compile(r"\bcritical\b")
_WARNING_TITLE = re.compile(r"\bwarning\b")

# Words telling that clearing a cache is the fitting first aid for exhaustion.
_CACHE_WORDS = re.compile(r"\bcache[sd]?\b|\bmemory\b|\bheap\b|\bredis\b|\bmemcached\b|\boom\b")
# Words telling that the service itself is stuck or crash-looping, so a restart helps.
_RESTART_WORDS = re.compile(
    r"\bcrash ?loop(ing|backoff)?\b|\bcrash(ed|es|ing)?\b|\bunhealthy\b|\bnot responding\b"
    r"|\bhung\b|\bhang(s|ing)?\b|\bdeadlock(s|ed)?\b|\btoo many restarts\b|\bstuck\b"
)

# A template placeholder (`{{ $labels.instance }}`) in an unrendered alert says nothing.
_TEMPLATE = re.compile(r"\{\{.*?\}\}")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SEPARATORS = re.compile(r"[_/]+")

# Scores below this are too weak to name a category.
_MIN_SCORE = 1.0
_DESCRIPTION_WEIGHT = 0.6
# What a description only guesses at ("may indicate", "possibly due to") counts less
# than what it states.
_SPECULATION_WEIGHT = 0.3
_HEDGE = re.compile(
    r"\b(may|might|could|possibly|probably|likely|usually|often|potential(ly)?|e\.g\.)\b[^.]*"
)


@dataclass(frozen=True, slots=True)
class Classification:
    """The rules' verdict for one alert, with the matched words behind it."""

    category: str
    severity: Severity
    confidence: float
    evidence: tuple[str, ...]
    scores: Mapping[str, float]


def _normalise(text: str) -> str:
    text = _TEMPLATE.sub(" ", text)
    text = _CAMEL.sub(" ", text)
    return _SEPARATORS.sub(" ", text).lower()


def classify(request: TriageRequest) -> Classification:
    """Classify one alert by its words alone. Pure: same request, same answer.

    Reads the title, the ``alertname`` label and the description; never the request's
    severity. ``confidence`` grows with the winning score and with its lead over the
    others.
    """
    headline = _normalise(f"{request.title} {request.labels.get('alertname', '')}")
    description = _normalise(request.description)
    speculation = " ".join(m.group(0) for m in _HEDGE.finditer(description))
    statement = _HEDGE.sub(" ", description)
    scores = {c: 0.0 for c in (_LAT, _CONN, _RES, _UNK)}
    evidence: dict[str, list[str]] = {c: [] for c in scores}
    # Each signal counts once, where it weighs most.
    parts = ((headline, 1.0), (statement, _DESCRIPTION_WEIGHT), (speculation, _SPECULATION_WEIGHT))
    for signal in SIGNALS:
        for text, factor in parts:
            match = signal.pattern.search(text)
            if match is not None:
                scores[signal.category] += signal.weight * factor
                evidence[signal.category].append(match.group(0).strip())
                break

    best = max((_LAT, _CONN, _RES), key=lambda c: scores[c])
    category = best if scores[best] >= _MIN_SCORE and scores[best] > scores[_UNK] else _UNK
    total = sum(scores.values())
    if total == 0:
        confidence = 0.2
    else:
        strength = min(scores[category] / 6.0, 1.0)
        share = scores[category] / total
        confidence = round(0.2 + 0.75 * strength * share, 2)
    return Classification(
        category=category,
        severity=_severity(category, headline, description),
        confidence=confidence,
        evidence=tuple(dict.fromkeys(evidence[category])),
        scores=MappingProxyType(scores),
    )


def _severity(category: str, headline: str, description: str) -> Severity:
    text = f"{headline} . {description}"
    score = _START_SEVERITY.get(category, 0)
    score += sum(delta for pattern, delta in _SEVERITY_SIGNALS if pattern.search(text))
    # The alert's own title calling itself critical or a warning is its author's verdict.
    if _CRITICAL_TITLE.search(headline):
        return Severity.CRITICAL
    if _WARNING_TITLE.search(headline):
        return Severity.MEDIUM
    if score >= 2:
        return Severity.CRITICAL
    if _LOW_SEVERITY.search(text):
        return Severity.LOW
    return Severity.HIGH if score == 1 else Severity.MEDIUM


def _suggest(category: str, text: str, allowed: Iterable[str]) -> str | None:
    allowed = set(allowed)
    if category == _RES and "clear_cache" in allowed and _CACHE_WORDS.search(text):
        return "clear_cache"
    if "restart_canary" in allowed and _RESTART_WORDS.search(text):
        return "restart_canary"
    return None


def _root_cause(result: Classification) -> str:
    if not result.evidence:
        return "No latency, connectivity or resource signal in the alert text."
    words = ", ".join(f"'{w}'" for w in result.evidence[:4])
    return f"Classified as {result.category} from the alert's words: {words}."


class RulesProvider:
    """The embedded default provider: no network, no state, deterministic replies.

    The severity in the reply is the request's own when it has one (the monitoring
    system knows better than word matching), else the inferred one. The suggested
    action is always one of ``request.allowed_actions``, targets ``request.service``, and
    never needs params (a rollback's version cannot be guessed from text).
    """

    name = "rules"

    def propose(self, request: TriageRequest) -> TriageReply:
        started = time.perf_counter()
        result = classify(request)
        alertname = request.labels.get("alertname", "")
        text = _normalise(f"{request.title} {alertname} {request.description}")
        action = _suggest(result.category, text, request.allowed_actions)
        category = result.category if result.category in request.categories else _UNK
        proposal = {
            "category": category,
            "severity": (request.severity or result.severity).value,
            "root_cause": _root_cause(result),
            "suggested_action": (
                None
                if action is None
                else {"name": action, "service": request.service, "params": {}}
            ),
            "confidence": result.confidence,
        }
        return TriageReply(
            raw=json.dumps(proposal),
            provider=self.name,
            model=None,
            latency_ms=(time.perf_counter() - started) * 1000,
        )
