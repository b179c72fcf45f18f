package backfill

import (
	"bytes"
	"context"
	"testing"
	"testing/synctest"
	"time"
)

func TestPacerSpacesCallsOut(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := newPacer(10)
		start := time.Now()
		for range 5 {
			if err := p.Wait(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		if d := time.Since(start); d != 400*time.Millisecond {
			t.Fatalf("5 calls at 10/s took %v, want 400ms", d)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := p.Wait(ctx); err == nil {
			t.Fatal("a cancelled wait returned no error")
		}
		if newPacer(-1) != nil || newPacer(0).Interval() != time.Second/DefaultRate {
			t.Fatal("rate defaults")
		}
	})
}

func TestBarDrawsProgress(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	bar := newBar(&b, 4, "accounts")
	bar.step()
	bar.step()
	bar.done()
	want := "\r[>                             ] 0/4 accounts" +
		"\r[=======>                      ] 1/4 accounts" +
		"\r[===============>              ] 2/4 accounts\n"
	if b.String() != want {
		t.Fatalf("got %q\nwant %q", b.String(), want)
	}
	b.Reset()
	bar = newBar(&b, 0, "accounts")
	bar.done()
	newBar(nil, 3, "x").step()
	if b.Len() != 0 {
		t.Fatalf("an empty bar drew %q", b.String())
	}
}
