// Package sigma compiles Sigma rules, as SigmaHQ publishes them, into an index that detection
// runs on the event stream (and `omamori scan` on files) after decode.
//
// Rules are parsed from YAML (Parse), then compiled all at once (Compile, Load) against a
// log-source mapping (Mapping) that says which events each Sigma log source means (Windows
// channels and event IDs, the datasets of syslog, Zeek, FortiGate, web logs) and what event
// keys its field names stand for. A rule that cannot be compiled is reported with the reason.
//
// The compiled Ruleset is not an interpreter that tries every rule on every event: an event
// selects the rules of its log source by channel and event ID (or dataset), the literals of
// those rules are looked up per field by hash (equality) and Aho–Corasick (contains, starts
// with, ends with), and only the rules that one of their necessary literals triggers are
// evaluated in full. Rules with no literal to key on (a bare "not", a regular expression
// alone) are evaluated on every event of their log source.
//
// Correlation rules (Sigma v2: event_count, value_count, temporal, temporal_ordered) run on
// the matches in a Correlator, which keeps state per group-by key within the timespan.
package sigma
