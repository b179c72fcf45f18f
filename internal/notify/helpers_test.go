package notify_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/concordmp/concord/internal/clocktest"
	"github.com/concordmp/concord/internal/job"
	"github.com/concordmp/concord/internal/notify"
	"github.com/concordmp/concord/internal/store"
	"github.com/concordmp/concord/internal/store/storetest"
	"github.com/concordmp/concord/internal/webhook"
)

// t0 is millisecond-aligned: the schema stores epoch milliseconds.
var t0 = time.Date(2030, 3, 4, 5, 6, 7, 0, time.UTC)

// hostile is a company name that must come out of the HTML escaped.
const hostile = `<script>alert("x")</script> & Sons`

type fixture struct {
	t      *testing.T
	ctx    context.Context
	db     *store.DB
	clock  *clocktest.Clock
	svc    *notify.Service
	hooks  *webhook.Service
	runner *job.Runner
}

// run runs fn as a parallel subtest on a fresh database of each dialect.
func run(t *testing.T, name string, fn func(t *testing.T, f *fixture)) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		t.Parallel()
		storetest.Each(t, func(t *testing.T, db *store.DB) { fn(t, setup(t, db)) })
	})
}

func setup(t *testing.T, db *store.DB) *fixture {
	t.Helper()
	c := clocktest.New(t0)
	// Receivers are httptest servers on loopback, allowed as on-premises ones.
	svc := &notify.Service{DB: db, Now: c.Now, PublicURL: func() string { return "https://concord.example.com" }, AllowPrivateTargets: true}
	hooks := &webhook.Service{DB: db, Now: c.Now, AllowPrivateTargets: true}
	r := job.NewRunner(db, job.RunnerOptions{Now: c.Now})
	svc.Handlers(r)
	hooks.Handlers(r)
	return &fixture{t: t, ctx: t.Context(), db: db, clock: c, svc: svc, hooks: hooks, runner: r}
}

// emit records n in its own transaction.
func (f *fixture) emit(n notify.Notice) (id string, created bool) {
	f.t.Helper()
	err := f.db.Write(f.ctx, func(tx *store.Tx) error {
		var err error
		id, created, err = f.svc.Emit(f.ctx, tx, f.clock.Now(), n)
		return err
	})
	if err != nil {
		f.t.Fatalf("emit %s: %v", n.Kind, err)
	}
	return id, created
}

// drain runs every due job.
func (f *fixture) drain() {
	f.t.Helper()
	for range 200 {
		worked, err := f.runner.WorkOne(f.ctx)
		if err != nil {
			f.t.Fatalf("work: %v", err)
		}
		if !worked {
			return
		}
	}
	f.t.Fatal("jobs keep coming")
}

func (f *fixture) get(id string) notify.Notification {
	f.t.Helper()
	n, err := f.svc.Get(f.ctx, id)
	if err != nil {
		f.t.Fatalf("get %s: %v", id, err)
	}
	return n
}

func (f *fixture) route(kind, channel, target, product string) notify.NotificationRoute {
	f.t.Helper()
	r, err := f.svc.CreateRoute(f.ctx, notify.NotificationRouteInput{Kind: kind, Channel: channel, Target: target, ProductID: product})
	if err != nil {
		f.t.Fatalf("create route %s %s %s: %v", kind, channel, target, err)
	}
	return r
}

// exec runs one statement, for seeding the tables the sweeps and recipients read.
func (f *fixture) exec(q string, args ...any) {
	f.t.Helper()
	if err := f.db.Write(f.ctx, func(tx *store.Tx) error {
		_, err := tx.Exec(f.ctx, q, args...)
		return err
	}); err != nil {
		f.t.Fatalf("%s: %v", q, err)
	}
}

// delivery returns the one delivery of n on channel to target.
func delivery(t *testing.T, n notify.Notification, channel, target string) notify.NotificationDelivery {
	t.Helper()
	for _, d := range n.Deliveries {
		if d.Channel == channel && d.Target == target {
			return d
		}
	}
	t.Fatalf("notification %s has no %s delivery to %s: %+v", n.ID, channel, target, n.Deliveries)
	return notify.NotificationDelivery{}
}

// fakeMailer records messages and fails while err is set.
type fakeMailer struct {
	mu   sync.Mutex
	sent []notify.Message
	err  error
}

func (m *fakeMailer) Send(_ context.Context, msg notify.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	m.sent = append(m.sent, msg)
	return nil
}

func (m *fakeMailer) messages() []notify.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]notify.Message(nil), m.sent...)
}

func (m *fakeMailer) fail(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.err = err
}

var errDown = errors.New("421 4.3.2 service not available")

func ptr[T any](v T) *T { return &v }

// order is a new-order notice with everything filled in.
func order() notify.Notice {
	start, end := t0, t0.AddDate(1, 0, 0)
	return notify.Notice{Kind: notify.KindNewOrder, Key: "new_order:agmt-1", ProductID: "prod-acme", OfferID: "offer-abc",
		AgreementID: "agmt-1", Data: notify.OrderData{
			OrderType: notify.OrderDirect, BuyerCompany: hostile, BuyerAccountID: "444455556666",
			ProductID: "prod-acme", ProductTitle: "Acme Analytics", SellerOfRecord: "Acme Inc.", Reseller: "",
			OfferID: "offer-abc", ConcordOfferID: "ofr_1", AgreementID: "agmt-1",
			LicenseArns:        []string{"arn:aws:license-manager::444455556666:license:l-0123456789abcdef"},
			Dimensions:         []notify.OrderDimension{{Key: "seats", Name: "Seats", Quantity: "10", Price: "1200", Unit: "year"}},
			TotalContractValue: "12000", Currency: "USD",
			PaymentSchedule: []notify.Payment{{Date: t0, Amount: "6000"}, {Date: t0.AddDate(0, 6, 0), Amount: "6000"}},
			Start:           &start, End: &end, AutoRenewal: ptr(false),
			ContractMetadata: map[string]string{"PO Number": "PO-42"},
		},
		Attachments: []notify.Attachment{{Name: "booking.pdf", ContentType: "application/pdf", Data: []byte("%PDF-1.7\n\x00\x01binary")}}}
}
