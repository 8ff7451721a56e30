package main

import (
	"context"
	"net"
	"sync"
	"time"
)

// http2Preface is what a client writes before its first frame.
const http2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// frameRstStream is RST_STREAM's frame type (RFC 9113, 6.4).
const frameRstStream = 0x3

// resetWatch is a client connection that notes when grpc-go writes an RST_STREAM frame: the moment a cancel leaves
// the client. grpc-go's cancelled call returns before its writer goroutine has sent the reset, so the call's
// return cannot tell when that was. The bench uses it to split a cancel's time into the client's share and the
// server's.
type resetWatch struct {
	net.Conn
	// preface is how much of the connection preface is still to come; header holds a frame header being read.
	preface int
	header  [9]byte
	inHead  int
	// payload is how many bytes of the current frame's payload are still to come.
	payload int
	resets  chan int64
}

// newResetWatch returns a dial option's dialer and the channel on which it reports, for each RST_STREAM written,
// CLOCK_MONOTONIC just before the write that carried it.
func newResetWatch() (func(context.Context, string) (net.Conn, error), <-chan int64) {
	resets := make(chan int64, 64)
	var once sync.Once
	dialer := func(ctx context.Context, addr string) (net.Conn, error) {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		watched := net.Conn(conn)
		// One watched connection: grpc-go redials after a failure, and a second parser would see a new preface.
		once.Do(func() { watched = &resetWatch{Conn: conn, preface: len(http2Preface), resets: resets} })
		return watched, nil
	}
	return dialer, resets
}

func (w *resetWatch) Write(b []byte) (int, error) {
	at := monotonicNanos()
	if w.carriesReset(b) {
		select {
		case w.resets <- at:
		default: // nobody is reading: the caller only asks after a cancel
		}
	}
	return w.Conn.Write(b)
}

// carriesReset follows the frames across writes (grpc-go's writer is the only caller, one write at a time) and
// says whether an RST_STREAM frame starts in b.
func (w *resetWatch) carriesReset(b []byte) bool {
	found := false
	for len(b) > 0 {
		switch {
		case w.preface > 0:
			n := smaller(w.preface, len(b))
			w.preface -= n
			b = b[n:]
		case w.payload > 0:
			n := smaller(w.payload, len(b))
			w.payload -= n
			b = b[n:]
		default:
			n := copy(w.header[w.inHead:], b)
			w.inHead += n
			b = b[n:]
			if w.inHead == len(w.header) {
				w.inHead = 0
				w.payload = int(w.header[0])<<16 | int(w.header[1])<<8 | int(w.header[2])
				if w.header[3] == frameRstStream {
					found = true
				}
			}
		}
	}
	return found
}

// nextReset waits up to `limit` for the next RST_STREAM written; 0 if none came.
func nextReset(resets <-chan int64, limit time.Duration) int64 {
	select {
	case at := <-resets:
		return at
	case <-time.After(limit):
		return 0
	}
}

// smaller is min for Go before 1.21 (Debian's Go here is 1.19).
func smaller(a, b int) int {
	if a < b {
		return a
	}
	return b
}
