"""Golden bytes and filled examples from another implementation: kafka-python 3.0.12.

kafka-python 3.x encodes every Kafka message from Kafka 4.x's own JSON message definitions, so its
bytes (and its idea of which field exists in which version) are an independent check of Rill's
schema files (Sources/KafkaProtocol/Schema) and of rill-protogen's generated code.

Regenerate (from the repository root, with kafka-python 3.0.12 installed, e.g.
`python3 -m venv /tmp/kp && /tmp/kp/bin/pip install kafka-python==3.0.12`):

    /tmp/kp/bin/python3 Tests/KafkaProtocolTests/golden_from_kafka_python.py

It writes, next to itself:
  GoldenRequests.swift     whole framed requests (size, header, body) for a few hand-picked values
  FilledMessages.swift     for every request and response of every API in Rill's schema, a builder
                           `Filled.<message>(version, fill)` of a value with every field that exists
                           in that version (per Kafka's JSON, not Rill's schema) set to a non-default
                           value: arrays of one (structs) or two (scalars) elements, tagged fields
                           set, nullable fields null (fill.nulls) or not
  KafkaPythonGolden.swift  kafka-python's encoding of those same values, for every API, every
                           version in Rill's range, both with and without nulls

and exits 1 (after printing them) if Rill's schema disagrees with Kafka's JSON: a field's versions,
nullable versions, tag, type or order, or a field Kafka has that Rill cannot read.
Nothing here needs a broker or the network.
"""
import hashlib
import os
import re
import sys
import zlib

from kafka.protocol.api_message import ApiMessage
import kafka.protocol.admin  # noqa: F401  (registers the message classes)
import kafka.protocol.consumer  # noqa: F401
import kafka.protocol.metadata  # noqa: F401
import kafka.protocol.producer  # noqa: F401

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA_DIR = os.path.join(HERE, '..', '..', 'Sources', 'KafkaProtocol', 'Schema')
CLIENT = 'kafka-python-3.0.12'

# MARK: - Rill's schema files (the format is documented atop Sources/rill-protogen/SchemaParser.swift)


class RField:
    def __init__(self, name, type_, versions, nullable, tag, default):
        self.name, self.type, self.versions, self.nullable, self.tag, self.default = name, type_, versions, nullable, tag, default
        self.fields = []

    @property
    def struct_name(self):
        t = self.type[2:] if self.type.startswith('[]') else self.type
        return t if t[:1].isupper() else None


def parse_range(s, within):
    if s.endswith('+'):
        lo, hi = int(s[:-1]), within[1]
    elif '-' in s:
        lo, hi = map(int, s.split('-'))
    else:
        lo = hi = int(s)
    lo, hi = max(lo, within[0]), min(hi, within[1])
    return (lo, hi) if lo <= hi else None


def parse_rill_schema(path):
    api = {'messages': []}
    stack = []  # (indent, RField)
    msg = None
    for raw in open(path, encoding='utf-8'):
        line = raw.split('#', 1)[0].rstrip()
        if not line:
            continue
        indent = len(line) - len(line.lstrip(' '))
        words = line.split()
        if indent == 0:
            if words[0] == 'api':
                api['key'], api['name'] = int(words[1]), words[2]
            else:
                attrs = dict(w.split('=', 1) for w in words[2:])
                lo, hi = map(int, attrs['versions'].split('-'))
                flex = None if attrs['flexible'] == 'none' else int(attrs['flexible'][:-1])
                msg = {'kind': words[0], 'name': words[1], 'versions': (lo, hi), 'flexible': flex, 'fields': []}
                api['messages'].append(msg)
                stack = []
            continue
        while stack and stack[-1][0] >= indent:
            stack.pop()
        parent_versions = stack[-1][1].versions if stack else msg['versions']
        attrs = dict(w.split('=', 1) for w in words[2:])
        versions = parse_range(attrs['v'], parent_versions) if 'v' in attrs else parent_versions
        nullable = parse_range(attrs['null'], versions) if 'null' in attrs else None
        f = RField(words[0], words[1], versions, nullable, int(attrs['tag']) if 'tag' in attrs else None, attrs.get('default'))
        (stack[-1][1].fields if stack else msg['fields']).append(f)
        stack.append((indent, f))
    return api


# MARK: - Swift names (as Sources/rill-protogen/SwiftNames.swift spells them)

KEYWORDS = {'protocol', 'default', 'internal', 'public', 'private', 'operator', 'extension', 'return', 'class', 'struct',
            'enum', 'func', 'var', 'let', 'in', 'is', 'as', 'self', 'Self', 'type', 'where', 'repeat', 'case', 'switch'}


def camel(words):
    out = ''
    for i, w in enumerate(words):
        lw = w.lower()
        if i == 0:
            out += lw
        elif lw == 'id':
            out += 'ID'
        elif lw == 'ids':
            out += 'IDs'
        else:
            out += lw[:1].upper() + lw[1:]
    return out


def swift_property(snake):
    n = camel(snake.split('_'))
    return '`%s`' % n if n in KEYWORDS else n


def lower_first(s):
    return s[:1].lower() + s[1:]


# MARK: - kafka-python's message classes


def all_subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from all_subclasses(sub)


# Messages kafka-python 3.0.12 does not ship, defined here in the JSON form of Kafka's message
# definitions (the same facts as Kafka 4.x's, written out for this check) and loaded through
# kafka-python's own machinery, so they are encoded by the same independent code as the others.
SUPPLEMENT = {
    'UnregisterBrokerRequest': {
        'apiKey': 64, 'type': 'request', 'listeners': ['broker', 'controller'], 'name': 'UnregisterBrokerRequest',
        'validVersions': '0', 'flexibleVersions': '0+',
        'fields': [{'name': 'BrokerId', 'type': 'int32', 'versions': '0+', 'entityType': 'brokerId'}],
    },
    'UnregisterBrokerResponse': {
        'apiKey': 64, 'type': 'response', 'name': 'UnregisterBrokerResponse', 'validVersions': '0', 'flexibleVersions': '0+',
        'fields': [
            {'name': 'ThrottleTimeMs', 'type': 'int32', 'versions': '0+'},
            {'name': 'ErrorCode', 'type': 'int16', 'versions': '0+'},
            {'name': 'ErrorMessage', 'type': 'string', 'versions': '0+', 'nullableVersions': '0+', 'default': 'null'},
        ],
    },
}


def load_supplement():
    import importlib
    import json
    import tempfile
    root = tempfile.mkdtemp(prefix='rill-kafka-json-')
    package = os.path.join(root, 'rill_supplement_json')
    os.makedirs(package)
    open(os.path.join(package, '__init__.py'), 'w').close()
    for name, definition in SUPPLEMENT.items():
        with open(os.path.join(package, name + '.json'), 'w', encoding='utf-8') as out:
            json.dump(definition, out)
    sys.path.insert(0, root)
    module = importlib.import_module('rill_supplement_json')
    for name in SUPPLEMENT:
        type(name, (ApiMessage,), {'__slots__': ()}, load_json=module)


KP_CLASSES = {}
for c in all_subclasses(ApiMessage):
    if getattr(c, '_class_version', None) is None and getattr(c, '_json', None) is not None:
        KP_CLASSES.setdefault(c.__name__, c)
if not any(n in KP_CLASSES for n in SUPPLEMENT):
    load_supplement()
    for c in all_subclasses(ApiMessage):
        if c.__name__ in SUPPLEMENT and getattr(c, '_class_version', None) is None:
            KP_CLASSES.setdefault(c.__name__, c)


def vrange(kf):
    return kf._versions


def in_range(v, r):
    return r is not None and r[0] <= v <= r[1]


def clip(r, within):
    if r is None or r == (-1, -1):
        return None
    lo, hi = max(r[0], within[0]), min(r[1], within[1])
    return (lo, hi) if lo <= hi else None


def kp_type(kf):
    """Kafka's type string of a kafka-python field: int32, []int32, Foo, []Foo (kafka-python's bitfield is an int32)."""
    return kf._type_str


def kp_children(kf):
    # The struct's own field objects: those of a struct array's element struct, which carry the data classes.
    return list(kf.fields.values()) if kf._fields else []


def rill_field(kf, rfields):
    """Rill's field for kafka-python's field kf. kafka-python renames the int32 authorized-operations
    fields of Metadata and DescribeCluster to `authorized_operations` (and calls them bitfields)."""
    for rf in rfields:
        if rf.name == kf.name:
            return rf
    if kf._type_str == 'bitfield':
        ops = [rf for rf in rfields if rf.name.endswith('authorized_operations')]
        if len(ops) == 1:
            return ops[0]
    return None


# MARK: - Schema cross-check

problems = []


def check_fields(where, kfields, rfields, within, flexible):
    """Kafka's fields (kafka-python) against Rill's, clipped to `within` (the parent's versions in Rill's range)."""
    known = set()
    for kf in kfields:
        kv = clip(vrange(kf), within)
        if kv is None:
            continue  # not in Rill's versions
        rf = rill_field(kf, rfields)
        if rf is not None:
            known.add(rf.name)
        tagged = kf._tag is not None and clip(kf._tagged_versions, kv) is not None
        if rf is None:
            if tagged:
                print('note: %s.%s (tag %d, v%s) is not in Rill\'s schema: skipped as an unknown tag' % (where, kf.name, kf._tag, kv), file=sys.stderr)
            else:
                problems.append('%s.%s (v%d-%d) is in Kafka\'s schema but not Rill\'s' % (where, kf.name, kv[0], kv[1]))
            continue
        if rf.versions != kv:
            problems.append('%s.%s: Rill v%s, Kafka v%s' % (where, kf.name, rf.versions, kv))
        kn = clip(kf._nullable_versions, kv)
        if rf.nullable != kn:
            problems.append('%s.%s: Rill nullable %s, Kafka %s' % (where, kf.name, rf.nullable, kn))
        if tagged and (rf.tag != kf._tag or clip(kf._tagged_versions, kv) != kv):
            problems.append('%s.%s: Rill tag %s, Kafka tag %s in v%s' % (where, kf.name, rf.tag, kf._tag, kf._tagged_versions))
        if not tagged and rf.tag is not None:
            problems.append('%s.%s: tagged in Rill, not in Kafka' % (where, kf.name))
        if rf.type != kp_type(kf) and (rf.type, kp_type(kf)) not in (('int32', 'bitfield'), ('error', 'int16')):
            problems.append('%s.%s: Rill type %s, Kafka %s' % (where, kf.name, rf.type, kp_type(kf)))
        fv = kf._flexible_versions
        if fv is not None and fv != (flexible if flexible is not None else -1, 32767):
            problems.append('%s.%s: Kafka gives it its own flexibleVersions %s, which Rill cannot express' % (where, kf.name, fv))
        if rf.struct_name:
            check_fields('%s.%s' % (where, rf.struct_name), kp_children(kf), rf.fields, kv, flexible)
    for rf in rfields:
        if rf.name not in known:
            problems.append('%s.%s is in Rill\'s schema but not Kafka\'s (in v%s)' % (where, rf.name, within))
    # Order of the untagged fields in each version (the wire order).
    for v in range(within[0], within[1] + 1):
        korder = [rill_field(kf, rfields).name for kf in kfields if in_range(v, vrange(kf)) and not in_range(v, kf._tagged_versions if kf._tag is not None else None) and rill_field(kf, rfields)]
        rorder = [rf.name for rf in rfields if in_range(v, rf.versions) and rf.tag is None]
        if korder != rorder:
            problems.append('%s v%d: field order Rill %s, Kafka %s' % (where, v, rorder, korder))
            break


# MARK: - Filled values


def h32(path):
    return zlib.crc32(path.encode())


def scalar(t, path, kdefault):
    """A non-default value of Kafka type t, from the field's path; (python value, Swift literal)."""
    h = h32(path)
    if t in ('int8', 'int16', 'int32', 'int64', 'uint16'):
        lim = {'int8': 120, 'int16': 30000, 'int32': 2_000_000_000, 'int64': 9_000_000_000_000_000, 'uint16': 65000}[t]
        if t == 'int64':
            h = h * 2_654_435_761 + 12345
        val = 1 + h % lim
        if val == kdefault:
            val += 1
        return val, str(val)
    if t == 'bitfield':  # kafka-python's view of the int32 authorized-operations fields: a set of bits
        val = {1 + h % 8, 10 + h % 5}
        return val, str(sum(1 << b for b in val))
    if t == 'float64':
        val = (h % 1000) + 0.25
        return val, repr(val)
    if t == 'bool':
        val = not bool(kdefault)
        return val, 'true' if val else 'false'
    if t == 'string':
        initials = ''.join(w[:1] for w in path.split('.')[-1].split('_'))
        val = '%s-%d' % (initials, h % 1000)
        return val, '"%s"' % val
    if t in ('bytes', 'records'):
        val = bytes([h & 255, (h >> 8) & 255, (h >> 16) & 255])
        return val, 'ByteBuffer(bytes: [%s] as [UInt8])' % ', '.join(str(b) for b in val)
    if t == 'uuid':
        d = hashlib.md5(path.encode()).digest()
        import uuid
        val = uuid.UUID(bytes=d)
        return val, 'KafkaUUID(high: 0x%s, low: 0x%s)' % (d[:8].hex(), d[8:].hex())
    raise ValueError(t)


def scalar_array(t, path, kdefault):
    a, sa = scalar(t, path + '#0', None)
    b, sb = scalar(t, path + '#1', None)
    return [a, b], '[%s, %s]' % (sa, sb)


def kp_value(kf, path, v, nulls):
    """kafka-python's value for field kf at version v."""
    if nulls and in_range(v, kf._nullable_versions):
        return None
    t = kp_type(kf)
    if kf.is_struct():
        return kp_struct(kf, path, v, nulls)
    if kf.is_struct_array():
        return [kp_struct(kf, path, v, nulls)]
    if t.startswith('[]'):
        return scalar_array(t[2:], path, None)[0]
    return scalar(t, path, kf.default)[0]


def kp_struct(kf, path, v, nulls):
    vals = {}
    for child in kp_children(kf):
        if in_range(v, vrange(child)) and child.name in RILL_NAMES.get(id(kf), ()):
            vals[child.name] = kp_value(child, path + '.' + child.name, v, nulls)
    return kf.data_class(**vals)


RILL_NAMES = {}  # id(kafka-python struct field) -> names Rill knows there


def bind_rill_names(kfields_owner, kfields, rfields):
    RILL_NAMES[id(kfields_owner)] = {kf.name for kf in kfields if rill_field(kf, rfields)}
    for kf in kfields:
        rf = rill_field(kf, rfields)
        if rf is not None and rf.struct_name:
            bind_rill_names(kf, kp_children(kf), rf.fields)


class SwiftBuilders:
    def __init__(self):
        self.out = []
        self.done = set()

    def emit_struct(self, msg_name, swift_type, func, kfields, rfields, path):
        """A builder function for one struct; returns its name."""
        if func in self.done:
            return func
        self.done.add(func)
        body = []
        nested = []
        for kf in kfields:
            rf = rill_field(kf, rfields)
            if rf is None:
                continue  # a tag Rill does not know (checked above)
            kv = vrange(kf)
            p = swift_property(rf.name)
            fpath = path + '.' + kf.name
            t = kp_type(kf)
            if kf.is_struct() or kf.is_struct_array():
                sname = rf.struct_name
                sub = self.emit_struct_later(msg_name, '%s.%s' % (msg_name, sname), '%s_%s' % (lower_first(msg_name), sname),
                                             kp_children(kf), rf.fields, fpath, nested)
                expr = '%s(v, f)' % sub if kf.is_struct() else '[%s(v, f)]' % sub
            elif t.startswith('[]'):
                expr = scalar_array(t[2:], fpath, None)[1]
            else:
                expr = scalar(t, fpath, kf.default)[1]
                if rf.type == 'error':  # Rill's int16 error codes are ErrorCode in Swift
                    expr = 'ErrorCode(rawValue: %s)' % expr
            if kf._nullable_versions is not None and kf._nullable_versions != (-1, -1):
                nv = kf._nullable_versions
                expr = 'f.null(v, %d, %d) ? nil : %s' % (nv[0], min(nv[1], 32767), expr)
            body.append('        if f.has(v, %d, %d) { x.%s = %s }' % (kv[0], min(kv[1], 32767), p, expr))
        self.out.append('    static func %s(_ v: Int16, _ f: Fill) -> %s {' % (func, swift_type))
        self.out.append('        var x = %s()' % swift_type)
        self.out.extend(body)
        self.out.append('        return x')
        self.out.append('    }')
        for args in nested:
            self.emit_struct(*args)
        return func

    def emit_struct_later(self, msg_name, swift_type, func, kfields, rfields, path, queue):
        if func not in self.done and all(q[2] != func for q in queue):
            queue.append((msg_name, swift_type, func, kfields, rfields, path))
        return func


# MARK: - Hand-picked framed requests (GoldenRequests.swift)


def batch():
    from kafka.record.default_records import DefaultRecordBatchBuilder
    b = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False, producer_id=1000,
                                  producer_epoch=0, base_sequence=5, batch_size=1 << 20)
    b.append(0, timestamp=1700000000000, key=b"k1", value=b"hello", headers=[])
    b.append(1, timestamp=1700000000005, key=None, value=b"world", headers=[])
    return bytes(b.build())


def framed(req, correlation):
    req.with_header(correlation_id=correlation, client_id=CLIENT)
    return req.encode(framed=True, header=True).hex()


def golden_requests():
    from kafka.protocol.metadata import MetadataRequest, ApiVersionsRequest
    from kafka.protocol.producer import ProduceRequest, InitProducerIdRequest
    from kafka.protocol.consumer import FetchRequest, ListOffsetsRequest, OffsetForLeaderEpochRequest
    from kafka.protocol.admin import CreateTopicsRequest, DeleteTopicsRequest
    M = MetadataRequest[8]
    yield 'apiVersionsV2', framed(ApiVersionsRequest[2](), 1)
    yield 'apiVersionsV4', framed(ApiVersionsRequest[4](client_software_name='kafka-python', client_software_version='3.0.12'), 2)
    yield 'metadataV8', framed(M(topics=[M.MetadataRequestTopic(name='orders')], allow_auto_topic_creation=True,
                                 include_cluster_authorized_operations=False, include_topic_authorized_operations=False), 3)
    yield 'metadataV8AllTopics', framed(M(topics=None, allow_auto_topic_creation=False,
                                          include_cluster_authorized_operations=False, include_topic_authorized_operations=False), 4)
    P = ProduceRequest[8]
    yield 'produceV8', framed(P(transactional_id=None, acks=-1, timeout_ms=30000, topic_data=[
        P.TopicProduceData(name='orders', partition_data=[P.TopicProduceData.PartitionProduceData(index=0, records=batch())])]), 5)
    F = FetchRequest[11]
    yield 'fetchV11', framed(F(replica_id=-1, max_wait_ms=500, min_bytes=1, max_bytes=52428800, isolation_level=1,
                               session_id=0, session_epoch=-1, topics=[F.FetchTopic(topic='orders', partitions=[
                                   F.FetchTopic.FetchPartition(partition=0, current_leader_epoch=3, fetch_offset=42,
                                                               log_start_offset=-1, partition_max_bytes=1048576)])],
                               forgotten_topics_data=[], rack_id=''), 6)
    L = ListOffsetsRequest[5]
    yield 'listOffsetsV5', framed(L(replica_id=-1, isolation_level=1, topics=[L.ListOffsetsTopic(name='orders', partitions=[
        L.ListOffsetsTopic.ListOffsetsPartition(partition_index=0, current_leader_epoch=-1, timestamp=-2)])]), 7)
    C = CreateTopicsRequest[4]
    yield 'createTopicsV4', framed(C(topics=[C.CreatableTopic(name='orders', num_partitions=3, replication_factor=-1,
                                                              assignments=[], configs=[])], timeout_ms=30000,
                                     validate_only=False), 8)
    D = DeleteTopicsRequest[3]
    yield 'deleteTopicsV3', framed(D(topic_names=['orders'], timeout_ms=30000), 9)
    yield 'initProducerIDV1', framed(InitProducerIdRequest[1](transactional_id=None, transaction_timeout_ms=60000), 10)
    O = OffsetForLeaderEpochRequest[3]
    yield 'offsetForLeaderEpochV3', framed(O(replica_id=-1, topics=[O.OffsetForLeaderTopic(topic='orders', partitions=[
        O.OffsetForLeaderTopic.OffsetForLeaderPartition(partition=0, current_leader_epoch=3, leader_epoch=2)])]), 11)
    # Flexible versions (request header v2: a tagged-field section after client_id).
    M12 = MetadataRequest[12]
    yield 'metadataV12', framed(M12(topics=[M12.MetadataRequestTopic(topic_id=None, name='orders')], allow_auto_topic_creation=False,
                                    include_topic_authorized_operations=True), 12)
    P11 = ProduceRequest[11]
    yield 'produceV11', framed(P11(transactional_id='tx-1', acks=1, timeout_ms=1500, topic_data=[
        P11.TopicProduceData(name='orders', partition_data=[P11.TopicProduceData.PartitionProduceData(index=2, records=batch())])]), 13)


def write(name, lines):
    with open(os.path.join(HERE, name), 'w', encoding='utf-8') as out:
        out.write('\n'.join(lines) + '\n')


def main():
    apis = [parse_rill_schema(os.path.join(SCHEMA_DIR, n)) for n in sorted(os.listdir(SCHEMA_DIR)) if n.endswith('.kafka')]
    builders = SwiftBuilders()
    registry = []
    golden = []
    for api in apis:
        for msg in api['messages']:
            kcls = KP_CLASSES.get(msg['name']) or KP_CLASSES.get(msg['name'].replace('ID', 'Id'))
            if kcls is None:
                problems.append('kafka-python has no %s' % msg['name'])
                continue
            kstruct = kcls._struct
            kflex = kcls._flexible_versions
            kflex_from = kflex[0] if kflex is not None and kflex != (-1, -1) else None
            if kflex_from != msg['flexible']:
                problems.append('%s: Rill flexible from %s, Kafka %s' % (msg['name'], msg['flexible'], kflex_from))
            if kcls.API_KEY != api['key']:
                problems.append('%s: Rill API key %d, Kafka %d' % (msg['name'], api['key'], kcls.API_KEY))
            lo, hi = msg['versions']
            kv = kcls._valid_versions
            if not (kv[0] <= lo and hi <= kv[1]):
                problems.append('%s: Rill v%d-%d, Kafka valid v%s' % (msg['name'], lo, hi, kv))
            check_fields(msg['name'], kp_children(kstruct), msg['fields'], msg['versions'], msg['flexible'])
            bind_rill_names(kstruct, kp_children(kstruct), msg['fields'])
            func = lower_first(msg['name'])
            builders.emit_struct(msg['name'], msg['name'], func, kp_children(kstruct), msg['fields'], msg['name'])
            registry.append('        .make(%s.self, %s),' % (msg['name'], func))
            for v in range(lo, hi + 1):
                seen = set()
                for nulls in (False, True):
                    vals = {}
                    for kf in kp_children(kstruct):
                        if in_range(v, vrange(kf)) and kf.name in RILL_NAMES[id(kstruct)]:
                            vals[kf.name] = kp_value(kf, msg['name'] + '.' + kf.name, v, nulls)
                    encoded = kcls[v](**vals).encode(version=v).hex()
                    if encoded in seen:
                        continue  # nothing nullable in this version
                    seen.add(encoded)
                    golden.append('%s %d %s %s' % (msg['name'], v, 'nulls' if nulls else 'values', encoded or '-'))

    header = ['// Generated by golden_from_kafka_python.py from kafka-python 3.0.12 (Kafka 4.x\'s JSON message definitions).',
              '// Do not edit: regenerate with `python3 Tests/KafkaProtocolTests/golden_from_kafka_python.py` (see its docstring).']
    write('FilledMessages.swift', header + [
        '',
        'import KafkaProtocol',
        'import NIOCore',
        '',
        '/// For every message, a value with every field that exists in version `v` (or, with `f.all`, in any',
        '/// version) set to a non-default value; nullable fields are nil where `f.nulls` and nullable in `v`.',
        '/// Which field exists and is nullable in which version comes from Kafka\'s JSON, not Rill\'s schema.',
        'enum Filled {',
        '    static let messages: [MessageCase] = [',
    ] + registry + ['    ]', ''] + builders.out + ['}'])
    write('KafkaPythonGolden.swift', header + [
        '',
        '/// kafka-python\'s encoding (body only, no header) of `Filled.<message>(version, Fill(nulls: ...))`:',
        '/// one line per message, version and variant: `<Message> <version> <values|nulls> <hex, or - for none>`. A `nulls`',
        '/// line is left out where nothing is nullable in that version.',
        'enum KafkaPythonGolden {',
        '    static let lines = """',
    ] + ['    ' + g for g in golden] + ['    """', '}'])
    write('GoldenRequests.swift', [
        '// Generated by golden_from_kafka_python.py from kafka-python 3.0.12\'s own encoders. Do not edit.',
        'enum GoldenRequests {',
    ] + ['    static let %s = "%s"' % (n, h) for n, h in golden_requests()] + [
        '    /// A RecordBatch v2 from kafka-python\'s DefaultRecordBatchBuilder.',
        '    static let recordBatch = "%s"' % batch().hex(),
        '}',
    ])
    for p in problems:
        print('schema: ' + p, file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == '__main__':
    main()
