package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/concordmp/concord/internal/agreement"
	"github.com/concordmp/concord/internal/app"
	"github.com/concordmp/concord/internal/awsmp"
	"github.com/concordmp/concord/internal/httpapi"
	"github.com/concordmp/concord/internal/store"
)

// agreementCmd runs `concord agreement <sub>`: the seller's actions on an
// accepted agreement through the Agreement API (docs/agreements.md). It
// calls AWS (or the emulator at --aws-endpoint) and records the answer in the
// database, as the /v1 operations do; serve announces what follows.
func agreementCmd(ctx context.Context, sub string, args []string, stdout, stderr io.Writer) error {
	summary := map[string]string{
		"show":           "Print an agreement's lifecycle as JSON: AWS's Ending/Renewal/Advisory notices, cancellation requests, refunds, payment requests, invoices, charges (--refresh asks AWS first).",
		"cancel":         "Ask AWS to cancel an active agreement (--reason-code, --message); the buyer approves or rejects, AWS approves after 7 days.",
		"withdraw":       "Withdraw a cancellation request still pending the buyer's approval (--request acr-…, --reason).",
		"refund":         "Refund part of an invoice (--invoice, --amount, --reason-code): a billing adjustment; --client-token makes a resend safe.",
		"refund-status":  "Ask AWS for a refund's status (--refund ba-…).",
		"pay":            "Send a payment request under the agreement's variable payment term (--amount, --name).",
		"payment-cancel": "Withdraw a payment request the buyer has not answered (--payment).",
	}[sub]
	if summary == "" {
		return usageError{fmt.Errorf("unknown subcommand %q: use show, cancel, withdraw, refund, refund-status, pay or payment-cancel", sub)}
	}
	fs, c := newFlags("agreement "+sub, summary, stderr)
	id := fs.String("agreement", "", "the agreement id (agmt-…, required)")
	reasonCode := fs.String("reason-code", "", "cancel, refund: AWS's reason code (e.g. TEST_AGREEMENT, INCORRECT_METERING)")
	message := fs.String("message", "", "cancel, refund, pay: a description (up to 2000 characters)")
	reason := fs.String("reason", "", "withdraw: why (required by AWS)")
	request := fs.String("request", "", "withdraw: the cancellation request id (acr-…)")
	invoice := fs.String("invoice", "", "refund: the invoice id")
	amount := fs.String("amount", "", "refund, pay: a decimal amount such as 120.50")
	name := fs.String("name", "", "pay: the payment request's name (5-64 characters)")
	refund := fs.String("refund", "", "refund-status: the refund id (ba-…)")
	payment := fs.String("payment", "", "payment-cancel: the payment request id")
	token := fs.String("client-token", "", "cancel, refund, pay: an idempotency token; a resend with the same token changes nothing")
	refresh := fs.Bool("refresh", false, "show: ask AWS for requests, invoices and charges first")
	endpoint := fs.String("aws-endpoint", env("CONCORD_AWS_ENDPOINT", ""), "base URL for the AWS clients, e.g. a sandbox serve's http://127.0.0.1:8080/emulator (CONCORD_AWS_ENDPOINT)")
	region := fs.String("aws-region", env("CONCORD_AWS_REGION", "us-east-1"), "AWS region (CONCORD_AWS_REGION)")
	anonymous := fs.Bool("aws-anonymous", envBool("CONCORD_AWS_ANONYMOUS", false), "send unsigned requests, for an emulator at --aws-endpoint (CONCORD_AWS_ANONYMOUS)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *id == "" {
		return usageError{errors.New("--agreement is required")}
	}
	logger, err := c.logger(stderr)
	if err != nil {
		return err
	}
	cfg, err := awsmp.Load(ctx, awsmp.Config{Region: *region, Endpoint: *endpoint, Anonymous: *anonymous})
	if err != nil {
		return err
	}
	return c.withDB(ctx, func(db *store.DB) error {
		svc := app.NewServices(db, c.now(), logger).Agreements
		svc.API = awsmp.NewAgreements(cfg)
		var out any
		var err error
		switch sub {
		case "show":
			out, err = httpapi.LoadLifecycle(ctx, svc, *id, *refresh)
		case "cancel":
			out, err = svc.RequestCancellation(ctx, *id, agreement.CancelInput{ReasonCode: *reasonCode, Description: *message, ClientToken: *token})
		case "withdraw":
			if *request == "" {
				return usageError{errors.New("--request is required")}
			}
			out, err = svc.WithdrawCancellation(ctx, *id, *request, *reason)
		case "refund":
			out, _, err = svc.Refund(ctx, *id, agreement.RefundInput{InvoiceID: *invoice, Amount: *amount, ReasonCode: *reasonCode,
				Description: *message, ClientToken: *token})
		case "refund-status":
			if *refund == "" {
				return usageError{errors.New("--refund is required")}
			}
			out, err = svc.RefreshRefund(ctx, *id, *refund)
		case "pay":
			out, err = svc.RequestPayment(ctx, *id, agreement.PaymentInput{Amount: *amount, Name: *name, Description: *message, ClientToken: *token})
		case "payment-cancel":
			if *payment == "" {
				return usageError{errors.New("--payment is required")}
			}
			out, err = svc.CancelPayment(ctx, *id, *payment)
		}
		if err != nil {
			return err
		}
		return printJSON(stdout, out)
	})
}
