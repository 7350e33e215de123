package ingest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/omamori-project/omamori/internal/decode"
)

// Listener describes a syslog listener: whose records arrive there and how to read them.
type Listener struct {
	Tenant string // the tenant every record of this listener belongs to
	Source string // names the listener in events and metrics, e.g. "syslog-tcp"
	Format string // the decode format of its records; "syslog" when empty
	Decode decode.Options
	// MaxConns bounds the open connections (TCP, TLS); more are closed at once. Default 1024.
	MaxConns int
	// IdleTimeout closes a connection that sends no complete message for this long, which
	// also ends slow-loris clients that dribble a message byte by byte. Default 5 minutes.
	IdleTimeout time.Duration
}

func (l Listener) withDefaults(network string) Listener {
	if l.Format == "" {
		l.Format = "syslog"
	}
	if l.Source == "" {
		l.Source = "syslog-" + network
	}
	if l.MaxConns <= 0 {
		l.MaxConns = 1024
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = 5 * time.Minute
	}
	return l
}

// ServeTCP accepts syslog connections on ln until ctx ends, then stops reading, publishes what
// every connection has read, and returns when all connections are closed. It closes ln.
// Connections end as the package doc says: cleanly only after their sender's half-close and
// every acknowledgement.
func (p *Pipeline) ServeTCP(ctx context.Context, ln net.Listener, l Listener) error {
	return p.serveStream(ctx, ln, l.withDefaults("tcp"))
}

// ServeTLS is ServeTCP for syslog over TLS (RFC 5425) with config (selfsigned.Ensure makes a
// certificate when none is configured). ln is the plain TCP listener.
func (p *Pipeline) ServeTLS(ctx context.Context, ln net.Listener, config *tls.Config, l Listener) error {
	return p.serveStream(ctx, tls.NewListener(ln, config), l.withDefaults("tls"))
}

func (p *Pipeline) serveStream(ctx context.Context, ln net.Listener, l Listener) error {
	if _, err := decode.New(l.Format, l.Decode); err != nil {
		ln.Close()
		return fmt.Errorf("serve syslog on %s: %w", ln.Addr(), err)
	}
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	log := p.log.With("source", l.Source, "listener", ln.Addr().String())
	log.Info("listening for syslog")

	var conns sync.WaitGroup
	slots := make(chan struct{}, l.MaxConns)
	gauge := p.m.conns.WithLabelValues(l.Source)
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				break
			}
			// Out of file descriptors and the like: back off, as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			log.Warn("accept syslog connection", "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		select {
		case slots <- struct{}{}:
		default:
			p.m.rejected.WithLabelValues(l.Source).Inc()
			log.Warn("too many syslog connections; closing a new one", "remote", c.RemoteAddr().String(), "max", l.MaxConns)
			abort(c)
			continue
		}
		// Until the connection's records are acknowledged, closing it must reset it: that
		// includes the kernel closing it when this process dies, which would otherwise send a
		// FIN and tell a half-closed sender that everything arrived (found by the crash test).
		setLinger(c, 0)
		gauge.Inc()
		conns.Go(func() {
			defer func() { <-slots; gauge.Dec() }()
			p.serveConn(ctx, c, l, log)
		})
	}
	conns.Wait()
	log.Info("syslog listener stopped")
	return nil
}

// clockReader notes when each read returned, the time records were received.
type clockReader struct {
	r   io.Reader
	now time.Time
}

func (c *clockReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.now = time.Now()
	return n, err
}

func (p *Pipeline) serveConn(ctx context.Context, c net.Conn, l Listener, log *slog.Logger) {
	remote := c.RemoteAddr().String()
	s, err := p.NewStream(l.Tenant, l.Source, l.Format, l.Decode)
	if err != nil { // checked in ServeTCP; cannot happen
		abort(c)
		return
	}
	s.SetPeer(hostOf(remote))
	// On shutdown, interrupt the read in progress.
	stop := context.AfterFunc(ctx, func() { c.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()

	clock := &clockReader{r: c, now: time.Now()}
	f := newFramer(clock, p.cfg.MaxRecord, p.reads)
	defer f.release()
	lastMsg := time.Now()
	var deadline time.Time
	for {
		want := lastMsg.Add(l.IdleTimeout)
		if due, ok := s.Due(); ok && due.Before(want) {
			want = due
		}
		if want != deadline {
			c.SetReadDeadline(want)
			deadline = want
		}
		if ctx.Err() != nil {
			keepPending(s, f, "shutdown")
			p.finish(s, c, false, "shutdown", log, remote)
			return
		}
		msg, tooLong, err := f.next()
		switch {
		case err == nil && tooLong:
			s.AddBad(msg, clock.now, decode.ReasonTooLong, fmt.Sprintf("message longer than %d bytes; its start is kept", p.cfg.MaxRecord))
			lastMsg = clock.now
		case err == nil:
			s.Add(msg, clock.now)
			lastMsg = clock.now
		case errors.Is(err, errTruncated):
			s.AddBad(msg, clock.now, decode.ReasonSyntax, "the connection ended inside an octet-counted message")
			p.finish(s, c, true, "eof", log, remote)
			return
		case errors.Is(err, io.EOF):
			p.finish(s, c, true, "eof", log, remote)
			return
		case isTimeout(err):
			// Quiet: the batch goes when due, and the large buffers go back to their pools.
			now := time.Now()
			s.FlushIfDue(now)
			f.release()
			if !now.Before(lastMsg.Add(l.IdleTimeout)) {
				keepPending(s, f, "idle")
				p.finish(s, c, false, "idle", log, remote)
				return
			}
		default:
			// Reset by the peer, a failed TLS handshake: nobody is left to acknowledge, but what
			// was read is still published.
			log.Debug("syslog connection", "remote", remote, "err", err)
			keepPending(s, f, "error")
			p.finish(s, c, false, "error", log, remote)
			return
		}
	}
}

// keepPending puts the start of a message that a connection closed for why (idle, shutdown,
// error) left unfinished in the dead letters, so that a slow-loris client's bytes and a sender's
// last partial line are kept and counted like any other bad record.
func keepPending(s *Stream, f *framer, why string) {
	if b := f.pending(); b != nil {
		s.AddBad(b, time.Now(), decode.ReasonSyntax, "the connection was closed ("+why+") inside a message")
	}
}

// finish publishes what the connection read and closes it: with a FIN when the sender
// half-closed (eof) and every batch was acknowledged, so that it reads EOF, and with a reset
// otherwise, so that it cannot mistake the end for an acknowledgement.
func (p *Pipeline) finish(s *Stream, c net.Conn, eof bool, why string, log *slog.Logger, remote string) {
	_, err := s.Wait(p.ctx)
	if err != nil {
		log.Warn("syslog connection not acknowledged: resetting it", "remote", remote, "err", err)
		abort(c)
		return
	}
	if !eof {
		log.Debug("closing syslog connection", "remote", remote, "why", why)
		abort(c)
		return
	}
	c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	setLinger(c, -1) // now a FIN: the acknowledgement
	c.Close()
}

// abort closes c with a TCP reset instead of a FIN.
func abort(c net.Conn) {
	setLinger(c, 0)
	c.Close()
}

// setLinger sets SO_LINGER on c's TCP connection: 0 makes every close a reset, -1 restores the
// normal close.
func setLinger(c net.Conn, sec int) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if tcp, ok := c.(*net.TCPConn); ok {
		tcp.SetLinger(sec)
	}
}

// ServeUDP reads syslog datagrams (RFC 5426, one message each) from pc until ctx ends, then
// publishes what it read and returns. It closes pc. UDP has no acknowledgement.
func (p *Pipeline) ServeUDP(ctx context.Context, pc net.PacketConn, l Listener) error {
	l = l.withDefaults("udp")
	s, err := p.NewStream(l.Tenant, l.Source, l.Format, l.Decode)
	if err != nil {
		pc.Close()
		return fmt.Errorf("serve syslog on %s: %w", pc.LocalAddr(), err)
	}
	defer pc.Close()
	stop := context.AfterFunc(ctx, func() { pc.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	log := p.log.With("source", l.Source, "listener", pc.LocalAddr().String())
	log.Info("listening for syslog")
	buf := make([]byte, 64<<10)
	var deadline time.Time
	var peer netip.Addr
	for {
		want := time.Time{}
		if due, ok := s.Due(); ok {
			want = due
		}
		if want != deadline {
			pc.SetReadDeadline(want)
			deadline = want
		}
		if ctx.Err() != nil {
			break
		}
		n, from, err := readFrom(pc, buf)
		now := time.Now()
		if err != nil {
			if isTimeout(err) {
				s.FlushIfDue(now)
				continue
			}
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				break
			}
			log.Warn("read syslog datagram", "err", err)
			continue
		}
		if from != peer {
			peer = from
			s.SetPeer(from.String())
		}
		msg := trimTrailer(buf[:n])
		switch {
		case len(msg) == 0:
		case len(msg) > p.cfg.MaxRecord:
			s.AddBad(msg[:p.cfg.MaxRecord], now, decode.ReasonTooLong, fmt.Sprintf("datagram longer than %d bytes; its start is kept", p.cfg.MaxRecord))
		default:
			s.Add(msg, now)
		}
	}
	_, err = s.Wait(p.ctx)
	log.Info("syslog listener stopped")
	if err != nil {
		return fmt.Errorf("serve syslog on %s: %w", pc.LocalAddr(), err)
	}
	return nil
}

// readFrom reads one datagram and the address of its sender, without an allocation per
// datagram on a UDP socket.
func readFrom(pc net.PacketConn, buf []byte) (int, netip.Addr, error) {
	if uc, ok := pc.(*net.UDPConn); ok {
		n, ap, err := uc.ReadFromUDPAddrPort(buf)
		return n, ap.Addr().Unmap(), err
	}
	n, addr, err := pc.ReadFrom(buf)
	if err != nil {
		return n, netip.Addr{}, err
	}
	a, _ := netip.ParseAddr(hostOf(addr.String()))
	return n, a, nil
}

// hostOf returns the host of a host:port address, or addr itself when it has no port.
func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}
