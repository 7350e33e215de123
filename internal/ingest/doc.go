// Package ingest receives logs and puts them on the bus: it is the front door of the data path.
// Syslog arrives over UDP (RFC 5426), TCP (RFC 6587, octet counting or newline framing, told
// apart per message) and TLS (RFC 5425), and NDJSON over HTTP (POST /api/v1/ingest). Each
// record is decoded (package decode) into an event, events are gathered into batches by count,
// size and age, and each batch is published to JetStream (package bus). A record that cannot
// be decoded, or is too long, goes to the dead letters with its reason; nothing is dropped.
//
// # Acknowledgement
//
// A sender learns that its records are durable as follows:
//
//   - HTTP: the response. 200 with {"accepted": n, "dead_letters": m} comes only after every
//     batch of the request is acknowledged by JetStream; any other status means some of it may
//     be missing, and the client should send it again.
//   - TCP and TLS syslog have no acknowledgement in the protocol, so we give one with the
//     connection's end. When the client half-closes its side (shutdown(SHUT_WR), a TLS
//     close_notify), the server reads to the end, flushes the connection's last batch, waits
//     until JetStream has acknowledged all of its batches, and only then closes its own side.
//     A client that reads EOF after its FIN therefore knows everything it sent is durable. If a
//     batch fails, or the server stops before it has read to the end, it resets the connection
//     instead (RST), and the client sees an error rather than EOF. Every accepted connection
//     has SO_LINGER set to zero until that last moment, so that when the process dies the
//     kernel resets its connections too: otherwise it would send a FIN for a connection whose
//     records were read but not yet published, and the sender would take it for the
//     acknowledgement.
//   - UDP has no acknowledgement; datagrams can be lost before they reach us.
//
// "Durable" means what the bus's sync policy gives: written to the operating system before the
// acknowledgement always, and fsynced too by default (see package bus).
//
// # Limits
//
// A listener never stops for bad input. Records longer than Config.MaxRecord become dead
// letters holding their start; binary or invalid UTF-8 records become dead letters with the
// decoder's reason. A TCP connection that sends no complete message for IdleTimeout is closed
// (slow-loris clients), and the start of a message a closed connection left unfinished becomes
// a dead letter too. At most MaxConns are open at once, and when MaxInFlight batches are
// waiting for the bus, connections stop being read, so TCP pushes back on the senders.
package ingest
