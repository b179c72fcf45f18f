package metering_test

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/marketplacemetering"
)

// TestClientSurvivesAnAnswerBeforeTheBodyCheck forces the interleaving that
// made BenchmarkBatchMeterUsage fail (see noBodyWriteTo): the client's write
// side stops right after the last byte of the request is on the wire, the
// emulator answers, the SDK takes the response headers (and closes the
// request body) and starts reading the response body; only then does the
// write side go on to net/http's extra-bytes check. With the SDK's own HTTP
// client that check closes the connection under the reader ("use of closed
// network connection"); the tests' client must read the whole answer.
func TestClientSurvivesAnAnswerBeforeTheBodyCheck(t *testing.T) {
	e := newEnv(t)
	batches := benchBatches(e, 1) // 25 records: more than net/http's 4 KiB write buffer

	var mu sync.Mutex
	var conns []*pausingConn
	c := newClientWith(e.url, func(tr *http.Transport) {
		d := &net.Dialer{}
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			nc, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			pc := newPausingConn(nc)
			mu.Lock()
			conns = append(conns, pc)
			mu.Unlock()
			return pc, nil
		}
	})
	out, err := c.BatchMeterUsage(context.Background(), &marketplacemetering.BatchMeterUsageInput{UsageRecords: batches[0]})
	if err != nil {
		t.Fatalf("BatchMeterUsage: %v", err)
	}
	if len(out.Results) != len(batches[0]) {
		t.Fatalf("%d results for %d records", len(out.Results), len(batches[0]))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(conns) != 1 || !conns[0].forced() {
		t.Fatalf("the interleaving was not forced (%d connections); the test proves nothing", len(conns))
	}
}

// pausingConn holds the writer after the last byte of the first request
// until the reader asks for response bytes beyond those that carried the
// headers (by then the SDK has the response), lets the writer go on, and
// gives it time to finish (or to close the connection) before reading.
type pausingConn struct {
	net.Conn
	release  chan struct{} // closed by the reader: the writer may go on
	resumed  chan struct{} // closed by the writer once released
	closed   chan struct{} // closed by Close
	once     sync.Once
	relOnce  sync.Once
	hdr      bytes.Buffer // request bytes until the end of the headers
	need     int          // request length, once the headers are known
	written  int
	paused   bool
	respHdr  bytes.Buffer // response bytes until the end of the headers
	pastHdrs bool
}

func newPausingConn(c net.Conn) *pausingConn {
	return &pausingConn{Conn: c, release: make(chan struct{}), resumed: make(chan struct{}), closed: make(chan struct{})}
}

func (c *pausingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if c.paused || err != nil {
		return n, err
	}
	c.written += n
	if c.need == 0 {
		c.hdr.Write(p[:n])
		if i := bytes.Index(c.hdr.Bytes(), []byte("\r\n\r\n")); i >= 0 {
			req, rerr := http.ReadRequest(bufio.NewReader(bytes.NewReader(c.hdr.Bytes()[:i+4])))
			if rerr != nil {
				return n, rerr
			}
			c.need = i + 4 + int(req.ContentLength)
		}
	}
	if c.need > 0 && c.written >= c.need {
		c.paused = true
		select {
		case <-c.release:
		case <-time.After(10 * time.Second): // never hang the test
		}
		close(c.resumed)
	}
	return n, err
}

func (c *pausingConn) Read(p []byte) (int, error) {
	if c.pastHdrs {
		c.relOnce.Do(func() {
			close(c.release)
			<-c.resumed
			// The writer now runs net/http's extra-bytes check; give it the
			// time to finish, or to close the connection.
			select {
			case <-c.closed:
			case <-time.After(200 * time.Millisecond):
			}
		})
		return c.Conn.Read(p)
	}
	n, err := c.Conn.Read(p)
	c.respHdr.Write(p[:n])
	c.pastHdrs = bytes.Contains(c.respHdr.Bytes(), []byte("\r\n\r\n"))
	return n, err
}

func (c *pausingConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// forced reports whether the writer was held and released by the reader.
func (c *pausingConn) forced() bool {
	select {
	case <-c.resumed:
	default:
		return false
	}
	select {
	case <-c.release:
		return true
	default:
		return false
	}
}
