"""The rule families: one per labelling principle of ``../shared/design/labelling.md``.

A family is a named set of weighted phrases arguing for one category. Word families read
the alert's text (lower-cased, CamelCase alert names split into words); metric families
read the rule's expression (see ``warden.promql``). The classifier adds up the weights of
every family phrase found and the best-scoring category wins, so a reader can see from
the family names in a reply's root cause why an alert got its category.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from warden.domain import Category

LAT = Category.LATENCY.value
CONN = Category.CONNECTIVITY.value
RES = Category.RESOURCE_EXHAUSTION.value
UNK = Category.UNKNOWN.value


@dataclass(frozen=True, slots=True)
class Family:
    """Phrases that, when found, argue for ``category``.

    ``name`` says the principle in a few words; ``principle`` cites where labelling.md
    states it. Each phrase adds its weight once per alert.
    """

    name: str
    principle: str
    category: str
    phrases: tuple[tuple[re.Pattern[str], float], ...]


def _family(name: str, principle: str, category: str, *phrases: tuple[str, float]) -> Family:
    return Family(name, principle, category, tuple((re.compile(p), w) for p, w in phrases))


# Something out of service, but not something "slowing down".
DOWN = r"(?<!slowing )(?<!slows )(?<!slow )\bdown\b"
# A cluster that lost its quorum can no longer decide anything: no writes, no elections.
QUORUM_LOST = (
    r"\b(lost|loses|losing|without|no) (its |the )?quorum\b|\bquorum (is |was |has been )?lost\b"
    r"|\bnot quorate\b"
)

# ---------------------------------------------------------------------------------------
# Principle 1: a cause stated in the rule's text wins over its symptom. Read on the whole
# text, hedged or not: "likely due to backpressure" still names the cause.
STATED_LIMIT_CAUSE = _family(
    "a stated limit or backpressure is the cause",
    "How to decide 1; resource_exhaustion: 'rejected connections or refused data when a "
    "limit or backpressure is the stated cause'",
    RES,
    (
        r"\b(due to|because of|caused by)\b[^.]{0,40}"
        r"\b(limits?|quotas?|backpressure|full|exhaust(ed|ion)|saturat(ed|ion)|capacity"
        r"|too many|high number of|memory)\b",
        4,
    ),
    (r"\b(queue|buffer|pool) (is |are )?(full|exhausted)\b|\bpool exhaustion\b", 3),
)

# ---------------------------------------------------------------------------------------
# Word families: latency.
A_TIME_IS_LATENCY = _family(
    "the metric is a time",
    "latency: 'something takes too long and the metric is a time'; How to decide 2",
    LAT,
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
    # Something that takes too long, not a list that is too long.
    (r"\b(takes?|taking|took|runs?|running|ran|lasts?|waits?|waiting) too long\b", 2),
    (r"\bin time\b|\bto be picked up\b", 1),
    (r"\bspeed\b|\bround.?trip\b|\brtt\b|\bjitter\b", 1.5),
    (r"\bperformance degradation\b|\bdegraded performance\b|\bsluggish\b", 1.5),
)

# ---------------------------------------------------------------------------------------
# Word families: connectivity.
DOWN_IS_CONNECTIVITY = _family(
    "down and its synonyms",
    "How to decide 3: 'Down and its synonyms are connectivity'; connectivity: down, missing, "
    "absent, offline, powered off, not running, failed probes",
    CONN,
    (DOWN, 3),
    (r"\bunreachable\b|\bnot reachable\b|\bcannot (be )?reach|\bout of service\b", 3),
    (r"\b(is |are |has |have )?disappeared\b", 3),
    (r"\boffline\b|\bdisconnect(ed|ion|s)?\b|\bpowered off\b", 3),
    (
        r"\b(targets?|jobs?|nodes?|endpoints?|instances?|members?|peers?|exporters?|hosts?)"
        r" (is |are )?(missing|absent)\b"
        r"|\bmissing ([\w-]+ )?(targets?|jobs?|nodes?|members?|peers?|instances?|endpoints?"
        r"|master)\b|\bno targets?\b",
        3,
    ),
    (r"\bunavailable\b|\bnot (live|alive|responding|ready|active|available|accepting)\b", 2),
    (r"\bprobe (failed|failure)\b|\bping\b", 3),
    (r"\bupstream\b|\babsent\b", 1),
    (r"\bmissing\b", 0.5),
)
CONNECTION_FAILS = _family(
    "a connection fails with no other stated cause",
    "connectivity: 'connection refused or connection errors with no other stated cause; "
    "connection timeouts'; How to decide 1: 'rejected alone is connectivity'; DNS; TLS",
    CONN,
    (
        r"\bconnection (errors?|failures?|failed|issues?|timeouts?|lost|reset|refused|drops?)"
        r"|\b(failed|failing|unable) to connect\b|\brefused connection"
        r"|\b(not|cannot|can't|can not) (be )?connect(ed)?\b"
        r"|\b(lose|loses|losing|lost) (the |their |its )?connections?\b",
        3,
    ),
    (r"\breject(s|ed|ing)? (new )?connections\b|\bconnections? (are |is )?rejected\b", 2.5),
    (r"\bdns\b|\bservfail\b|\bnxdomain\b|\bname resolution\b", 3),
    (r"\btls handshake\b|\bhandshake (errors?|failures?)\b", 3),
    (r"\bheartbeats?\b|\bcommunicat(e|ion|ing)\b", 2),
)
MEMBERSHIP_LOST = _family(
    "cluster membership or replication lost",
    "connectivity: 'broken or disconnected replication; cluster membership lost (no leader "
    "or primary, quorum lost, members unreachable, node NotReady, too few live replicas)'",
    CONN,
    (
        r"\bno (elected |active |writable )?(leader|primary|master)\b|\bmissing leader\b"
        r"|\bleader(less| lost)\b",
        3,
    ),
    (r"\bno\b[\w\s/-]{0,30}\b(alive|online|healthy upstream|reachable|connected|registered)\b", 3),
    (
        r"\breplication (link )?(broken|lost|stopped|down)\b|\bbroken replication\b"
        r"|\blost (a |its )?(slave|replica|master|primary)\b"
        r"|\b(slave|replica|replication)\b[\w ]{0,20}\bnot running\b",
        3,
    ),
    # Fewer live members than wanted, or members cut off from each other.
    (r"\bunready\b|\blive nodes?\b|\b(cluster|network) partition(ed|s)?\b|\bpartitioned\b", 2),
    (QUORUM_LOST, 3),
    (r"\bquorum\b", 1),
)
NETWORK_PATH_BROKEN = _family(
    "the network path is broken",
    "connectivity: 'interfaces down, interface errors, packet drops, a degraded bond'",
    CONN,
    (r"\bnetwork(ing)?\b", 2),
    (r"\bpackets?\b|\bpacket loss\b", 2),
    (r"\binterfaces?\b|\bbond(ing)?\b|\blink (down|flapping)\b", 2),
    (r"\bbgp\b|\bvpn\b|\bfloating ips?\b", 2),
)

# ---------------------------------------------------------------------------------------
# Word families: resource exhaustion.
FULL_OR_SATURATED = _family(
    "something is full or saturated",
    "resource_exhaustion: 'CPU, memory, disk, inodes, file descriptors, swap, pools, threads, "
    "goroutines, heap, GC pressure, leaks, fragmentation'",
    RES,
    (r"\bout of (disk|space|memory|inodes|file descriptors|capacity|resources)\b", 3),
    (r"\bdisk (space|usage|full|pressure)\b|\bfree space\b|\bdiskpressure\b", 3),
    (r"\b(almost|nearly|near|is|are|getting|too|on)[ -]full\b|\bfill(ing|s)? up\b", 3),
    (r"\bfull\b(?! (gc|state|sync|scan|backup|resync|snapshots?))", 1),
    (r"\boom\b|\bout.?of.?memory|\boomkill", 3),
    (r"\brunning out\b|\bruns? out\b|\bwill fill\b|\bfill(s|ing)? in\b", 3),
    (r"\bmemory (pressure|leak)\b|\bmemorypressure\b|\bleak(s|ing)?\b|\bfragment(ed|ation)\b", 3),
    (r"\bmemory\b|\bheap\b|\bram\b|\bswap\b", 2),
    (r"\bcpu\b|\bthrottl(ed|ing)\b", 2),
    (r"\binodes?\b|\bfile descriptors?\b|\bopen files\b|\bfds\b", 3),
    (r"\bexhaust(ed|ion|ing)?\b|\bsaturat(ed|ion|ing)\b|\boverload(ed)?\b", 3),
    (
        r"\blow (on )?(free |disk |storage )?(space|storage|memory|heap)\b"
        r"|\b(space|storage) is low\b",
        3,
    ),
    (r"\bcapacity\b|\butili[sz](ation|ed)\b|\busage\b|\bbackpressure\b", 2),
    (r"\bgc\b|\bgarbage collect(ion|or)?\b", 2),
    (r"\bthread ?pool\b|\bworkers (busy|load)\b|\bbusy\b|\bmax[ -]children\b", 2),
    (r"\bbandwidth\b|\biops\b|\bwatermark\b|\bthroughput\b", 2),
    # Traffic filling a network path: a capacity problem, whatever "network" suggests.
    (
        r"\b(network|interface|link)s? (throughput|saturat(ed|ion)|overload(ed)?"
        r"|utili[sz]ation|bandwidth)\b",
        2,
    ),
    (r"\bload\b(?! ?balanc)|\bsteal\b|\bthreads?\b|\bstorage\b|\bdisks?\b|\bgoroutines?\b", 1),
    (r"\bresources?\b|\ballocations?\b|\bevict(ed|ion|ions)\b|\bshed(ding)?\b", 1),
)
LIMIT_APPROACHED = _family(
    "a limit or quota approached or hit",
    "resource_exhaustion: 'too many connections; limits, quotas and rate limits approaching "
    "or hit; autoscalers at their maximum'",
    RES,
    (r"\bquotas?\b|\brate.?limit(s|ed|ing)?\b", 3),
    (
        r"\b(max|maximum)\b[\w\s-]{0,40}\b(reached|hit)\b|\breach(ed|ing)? (the |its )?"
        r"(max|maximum|limit)|\b(reaching|approaching|exceed(s|ed|ing)?|over) (the |its )?"
        r"([\w-]+ ){0,2}limits?\b|\b\d+ ?% of (the |its )?([\w-]+ )?(limit|max(imum)?)\b"
        r"|\b(sessions?|connections?|threads?|workers?|clients?|process(es)?) limits?\b",
        2,
    ),
    (r"\btoo much (data|traffic)\b|\btoo many ([\w-]+ )?(messages|items|tasks|jobs)\b", 2),
    (r"\btoo many\b|\bhigh number of\b|\blarge number of\b", 0.5),
    (r"\blimits?\b", 1),
    # Counted things a server has a fixed number of.
    (r"\bconnections\b|\bcursors\b|\bsessions\b|\bfile handles\b|\bconnection pool\b", 1.5),
    (r"\bunable to scale\b|\bmax(imum)? replicas\b", 2),
)
WAITING_WORK = _family(
    "a count of waiting work",
    "How to decide 2: 'a count of waiting work is exhaustion'; resource_exhaustion: 'queues "
    "and pending work (including lag counted in messages or entries)'",
    RES,
    (r"\bbacklog\b|\bbacking up\b|\bpiling up\b|(?<!not )\bbacked up\b|\boutstanding\b", 3),
    # Work that waits for a free worker: blocked tasks, blocked evaluations.
    (
        r"\bblocked (tasks|jobs|evaluations?|operations|requests in queue)\b"
        r"|\b(tasks|jobs|evaluations) (are |is )?blocked\b",
        2,
    ),
    (
        r"\bconsumer (group )?lag\b|\blag\b[^.]{0,40}\b(messages|entries|blocks|records)\b"
        r"|\boffset lag\b|\b(messages|entries|blocks|records) behind\b",
        3,
    ),
    (r"\bqueue(s|d)?\b|\bqueuing\b|\bqueueing\b|\benqueued\b", 2),
    # Pending work counted; one object pending (a claim, a pod) is a state that persists.
    (
        r"\bpending (requests|tasks|bytes|messages|jobs|operations|writes)\b"
        r"|\b(requests|tasks|bytes|messages|jobs|operations|writes) (are )?pending\b",
        2,
    ),
)

# ---------------------------------------------------------------------------------------
# Word families: unknown.
FAILURE_WITHOUT_CAUSE = _family(
    "failed, crashed or erroring with no stated cause",
    "How to decide 3: 'failed, unhealthy, crashed, error without a cause are unknown'; "
    "unknown: 'error rates with no stated resource or network cause (all plain 4xx/5xx)'",
    UNK,
    (r"\b[45]xx\b|\bhttp [45]\d\d\b", 3),
    (r"\berrors?\b|\berror rate\b|\bexceptions?\b", 1.5),
    (r"\bfail(ed|s|ure|ures|ing)?\b", 1.5),
    (r"\brestart(s|ed|ing)?\b|\bcrash(ed|es|ing)?\b|\bdied\b", 2),
    # A panic is the program's own failure, whatever the component is named after.
    (r"\bpanic(s|ked)?\b", 3),
    (r"\bnot running\b", 1.5),
    (r"\bunhealthy\b|\bnot healthy\b|\bhealth\b|\byellow\b|\bstatus\b|\bout of sync\b", 1),
    (r"\bauthenticat(ion|ed)\b|\blogins?\b|\bcredentials?\b|\btokens?\b|\bregistration\b", 2),
)
STATE_NOT_CAPACITY = _family(
    "a state, a notice or hardware health, not a capacity",
    "unknown: 'configuration and reload failures, failed jobs and backups, data integrity, "
    "clock skew, under-utilisation, hardware health even when disk or memory is in the "
    "name, split brain, certificates merely expiring soon, too few connections, connection "
    "churn, dead letters, queues without consumers, request volume or cost notices'",
    UNK,
    (r"\bconfig(uration|s)?\b|\breload(s|ed|ing)?\b", 2),
    (r"\bbackups?\b|\bnot backed up\b", 2),
    (r"\bdeadlock(s|ed)?\b|\block contention\b|\bcorrupt(ed|ion)?\b|\bdata loss\b", 3),
    # Hardware health outweighs the "disk" or "memory" in its name.
    (
        r"\bhardware\b|\btemperature\b|\bovertemperature\b|\bthermal\b|\bfans?\b|\bcooling\b"
        r"|\bvoltage\b|\bbattery\b|\bups\b|\bpsu\b|\bsmart\b|\bipmi\b|\bedac\b|\becc\b"
        r"|\buncorrectable\b|\bsectors?\b|\bcurrent sensor\b|\braid\b",
        4,
    ),
    (r"\bclock\b|\bntp\b|\bskew\b", 3),
    (r"\bcardinality\b|\bcertificates?\b|\bocsp\b|\bexpir(y|es|ed|ing)\b", 2),
    (r"\bspend\b|\bbudget\b|\bbilling\b|\bcost\b", 2),
    (r"\bunderutili[sz]ed\b|\bidle\b", 3),
    (
        r"\bsplit.?brain\b|\btoo many (leaders|masters|primar(y|ies))\b"
        r"|\bleader (changes|churn)\b",
        3,
    ),
    # Too few of something is a misconfiguration, not something running out.
    (r"\bnot enough\b|\btoo few\b|\bshould have more\b", 1.5),
    # Named as unknown by the principles whatever queue or connection words surround them.
    (r"\bchurn\b|\bdead.?letter", 8),
    (r"\b(too many|no|without) consumers?\b", 3),
)

WORD_FAMILIES: tuple[Family, ...] = (
    A_TIME_IS_LATENCY,
    DOWN_IS_CONNECTIVITY,
    CONNECTION_FAILS,
    MEMBERSHIP_LOST,
    NETWORK_PATH_BROKEN,
    FULL_OR_SATURATED,
    LIMIT_APPROACHED,
    WAITING_WORK,
    FAILURE_WITHOUT_CAUSE,
    STATE_NOT_CAPACITY,
)
CAUSE_FAMILIES: tuple[Family, ...] = (STATED_LIMIT_CAUSE,)

# ---------------------------------------------------------------------------------------
# Metric families (How to decide 2: "the symptom decides, read from the metric"). They
# read the expression with label matchers removed; `x_seconds` that is a timestamp or an
# age (`time() - x`) is a state that persists, not a duration.
TARGET_DOWN_METRIC = _family(
    "the metric says the target is down or absent",
    "connectivity: 'a target, instance, node ... that is down, missing, absent'; `up == 0`",
    CONN,
    (r"\bup\s*(==|<|<=)\s*[01]\b|\babsent(_over_time)?\s*\(\s*up\b", 3),
    # A rule that is `absent(x)`; not one that uses absent() as one condition among others
    # (`start_time > 0 and absent(completion_time)` asks whether a job finished).
    (r"^absent(_over_time)?\s*\(|\bprobe_success\s*(==|<)\s*[01]\b", 2),
)
DURATION_METRIC = _family(
    "the metric is a duration",
    "latency: 'the metric is a time: response time, request duration, p95/p99, lag measured "
    "in seconds'",
    LAT,
    # `x_seconds_count` counts events (often failed ones), it measures no time.
    (
        r"(?<![a-z0-9_:])[a-z0-9_:]*"
        r"(duration|latency|delay|lag|wait|response_time|rtt|round_trip|elapsed)"
        r"[a-z0-9_:]*seconds(?!_count)(?![a-z0-9_:]*(fail|error|err\b))",
        2.5,
    ),
    (r"histogram_quantile\s*\([^)]*(seconds|duration|latency|_ms|time)", 1.5),
)
RATIO_OF_A_LIMIT = _family(
    "the metric is a share of a limit",
    "resource_exhaustion: 'limits, quotas and rate limits approaching or hit'; something "
    "full: used divided by its maximum, or a fill predicted",
    RES,
    # The divisor is a metric named for a limit, not an aggregation (`/ max by (job) (...)`).
    (
        r"/\s*\(?\s*(sum|max|min|avg|last_over_time)?\s*\(?\s*[a-z0-9_:]*"
        r"(max|limit|capacity|quota|size_bytes|total_bytes|allocatable)[a-z0-9_:]*"
        r"(?!\s*(\(|by\b|without\b))",
        2,
    ),
    (r"\bpredict_linear\s*\(", 2),
)
QUEUED_WORK_METRIC = _family(
    "the metric counts queued work",
    "How to decide 2: 'a count of waiting work is exhaustion'",
    RES,
    # Not a queue's consumers or dead letters (unknown), nor a count of a queue's failures.
    (
        r"(?<![a-z0-9_:])(?![a-z0-9_:]*(consumer|dead|dlq|death|fail|error|restart))[a-z0-9_:]*"
        r"(queue|pending|waiting|enqueued|backlog|outstanding|blocked)[a-z0-9_:]*",
        2,
    ),
)
METRIC_FAMILIES: tuple[Family, ...] = (
    TARGET_DOWN_METRIC,
    DURATION_METRIC,
    RATIO_OF_A_LIMIT,
    QUEUED_WORK_METRIC,
)
