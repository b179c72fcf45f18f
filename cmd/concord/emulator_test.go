package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/concordmp/concord/internal/emulator"
	"github.com/concordmp/concord/internal/emulator/agreementapi"
	"github.com/concordmp/concord/internal/emulator/world"
)

// TestEmulatorCancellationCommands: the buyer's answers to a seller's
// cancellation request, and the fault that fails the next one, from the CLI.
func TestEmulatorCancellationCommands(t *testing.T) {
	t.Parallel()
	e := emulator.New(emulator.Options{})
	srv := httptest.NewServer(e)
	t.Cleanup(func() { e.Close(); srv.Close() })
	emu := func(args ...string) (int, string, string) {
		var out, errw bytes.Buffer
		code := run(context.Background(), append(append([]string{"emulator"}, args...), "--emulator", srv.URL), &out, &errw)
		return code, out.String(), errw.String()
	}
	if code, _, errw := emu("product", "create", "--id", "prod-cli", "--dimensions", "seats:contract:10.00"); code != 0 {
		t.Fatal(errw)
	}
	send := func(buyer string) (agreementID, requestID string) {
		t.Helper()
		code, out, errw := emu("accept", "--buyer", buyer, "--product", "prod-cli", "--quantities", "seats=1")
		if code != 0 {
			t.Fatal(errw)
		}
		var a struct{ AgreementID string }
		json.Unmarshal([]byte(out), &a)
		err := e.World.Do(func(s *world.State) error {
			cr, err := s.SendCancellationRequest(a.AgreementID, "TEST_AGREEMENT", "", "")
			if err == nil {
				requestID = cr.ID
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return a.AgreementID, requestID
	}
	status := func(agreementID string) string {
		var st string
		e.World.Read(func(s *world.State) error { st = s.Agreements[agreementID].Status; return nil })
		return st
	}

	a1, r1 := send("444455556661")
	if code, _, errw := emu("cancellation", "reject", "--request", r1); code == 0 || !strings.Contains(errw, "--reason") {
		t.Fatalf("reject without a reason: exit %d %s", code, errw)
	}
	if code, out, errw := emu("cancellation", "reject", "--request", r1, "--reason", "still in use"); code != 0 || !strings.Contains(out, "REJECTED") {
		t.Fatalf("reject: exit %d %s %s", code, out, errw)
	}
	if st := status(a1); st != "ACTIVE" {
		t.Fatalf("rejected request ended the agreement: %s", st)
	}
	if code, _, errw := emu("cancellation", "approve", "--request", r1); code == 0 || !strings.Contains(errw, "REJECTED") {
		t.Fatalf("approving a rejected request: exit %d %s", code, errw)
	}

	a2, r2 := send("444455556662")
	if code, out, errw := emu("cancellation", "approve", "--request", r2); code != 0 || !strings.Contains(out, "APPROVED") {
		t.Fatalf("approve: exit %d %s %s", code, out, errw)
	}
	if st := status(a2); st != "CANCELLED" {
		t.Fatalf("approved request: agreement %s", st)
	}
	if code, out, _ := emu("show", "--what", "cancellation-requests"); code != 0 || !strings.Contains(out, r1) || !strings.Contains(out, r2) {
		t.Fatalf("show: %s", out)
	}

	if code, _, _ := emu("fail-next", "--kind", "everything"); code == 0 {
		t.Fatal("fail-next accepted an unknown kind")
	}
	if code, _, errw := emu("fail-next", "--kind", "cancellationRequest", "--message", "nope"); code != 0 {
		t.Fatal(errw)
	}
	_, r3 := send("444455556663")
	var st string
	e.World.Read(func(s *world.State) error { st = s.CancellationRequests[r3].Status; return nil })
	if st != world.CancellationValidationFailed {
		t.Fatalf("after fail-next: %s", st)
	}
}

// TestEmulatorPaymentCommands: the buyer's answers to a seller's payment
// request from the CLI.
func TestEmulatorPaymentCommands(t *testing.T) {
	t.Parallel()
	e := emulator.New(emulator.Options{})
	srv := httptest.NewServer(e)
	t.Cleanup(func() { e.Close(); srv.Close() })
	emu := func(args ...string) (int, string, string) {
		var out, errw bytes.Buffer
		code := run(context.Background(), append(append([]string{"emulator"}, args...), "--emulator", srv.URL), &out, &errw)
		return code, out.String(), errw.String()
	}
	var ids []string
	err := e.World.Do(func(s *world.State) error {
		p, err := s.CreateProduct(world.Product{Dimensions: []world.Dimension{{Key: "seats", Kind: "contract", Price: "1"}}})
		if err != nil {
			return err
		}
		if _, err := s.CreateBuyer("444455556666"); err != nil {
			return err
		}
		term, err := world.VariablePaymentTerm("100", "USD", "WAIT_FOR_APPROVAL", "")
		if err != nil {
			return err
		}
		o, err := s.CreatePrivateOffer(world.Offer{ProductID: p.ProductID, BuyerAccounts: []string{"444455556666"}, Quantities: map[string]int64{"seats": 1}, Terms: []agreementapi.Term{term}})
		if err != nil {
			return err
		}
		a, err := s.Accept("444455556666", o.OfferID, world.AcceptOptions{})
		if err != nil {
			return err
		}
		for range 2 {
			pr, err := s.SendPaymentRequest(a.ID, term.ID, "Services", "", "10", "")
			if err != nil {
				return err
			}
			ids = append(ids, pr.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if code, out, errw := emu("payment", "accept", "--request", ids[0], "--purchase-order", "PO-1"); code != 0 || !strings.Contains(out, "APPROVED") || !strings.Contains(out, "PO-1") {
		t.Fatalf("accept: exit %d %s %s", code, out, errw)
	}
	if code, out, errw := emu("payment", "reject", "--request", ids[1], "--reason", "no"); code != 0 || !strings.Contains(out, "REJECTED") {
		t.Fatalf("reject: exit %d %s %s", code, out, errw)
	}
	if code, _, errw := emu("payment", "reject", "--request", ids[1]); code == 0 || !strings.Contains(errw, "REJECTED") {
		t.Fatalf("rejecting twice: exit %d %s", code, errw)
	}
	if code, out, _ := emu("show", "--what", "payment-requests"); code != 0 || !strings.Contains(out, ids[0]) {
		t.Fatalf("show: %s", out)
	}
}

// TestEmulatorPlaysAWSCommands: advisories and paused disbursements from the CLI.
func TestEmulatorPlaysAWSCommands(t *testing.T) {
	t.Parallel()
	e := emulator.New(emulator.Options{})
	srv := httptest.NewServer(e)
	t.Cleanup(func() { e.Close(); srv.Close() })
	emu := func(args ...string) (int, string, string) {
		var out, errw bytes.Buffer
		code := run(context.Background(), append(append([]string{"emulator"}, args...), "--emulator", srv.URL), &out, &errw)
		return code, out.String(), errw.String()
	}
	emu("product", "create", "--id", "prod-cli", "--dimensions", "seats:contract:10.00")
	_, out, _ := emu("accept", "--buyer", "444455556661", "--product", "prod-cli", "--quantities", "seats=1")
	var a struct{ AgreementID string }
	json.Unmarshal([]byte(out), &a)
	if code, _, errw := emu("advisory", "--agreement", a.AgreementID, "--resolve", "maybe"); code == 0 || !strings.Contains(errw, "--resolve") {
		t.Fatalf("a bad --resolve: exit %d %s", code, errw)
	}
	if code, out, errw := emu("advisory", "--agreement", a.AgreementID); code != 0 || !strings.Contains(out, "advisoryIssuedAt") {
		t.Fatalf("issue: exit %d %s %s", code, out, errw)
	}
	if code, out, errw := emu("advisory", "--agreement", a.AgreementID, "--resolve", "true"); code != 0 || strings.Contains(out, "advisoryIssuedAt") {
		t.Fatalf("resolve: exit %d %s %s", code, out, errw)
	}
	if code, _, errw := emu("disbursement-paused"); code != 0 {
		t.Fatal(errw)
	}
	var types []string
	e.World.Read(func(s *world.State) error {
		for _, ev := range s.Events {
			var m struct {
				DetailType string `json:"detail-type"`
			}
			json.Unmarshal(ev.Body, &m)
			types = append(types, m.DetailType)
		}
		return nil
	})
	if got := strings.Join(types, ","); !strings.HasSuffix(got, "Purchase Agreement Advisory Issued - Manufacturer,Purchase Agreement Advisory Resolved - Manufacturer,Disbursement Paused") {
		t.Fatalf("events: %s", got)
	}
}
