package metering

import (
	"context"

	"github.com/concordmp/concord/internal/emulator/world"
)

// resolveCustomer exchanges a registration token for the buyer's identity.
// A token resolves to the same answer as often as it is presented until it
// expires.
func (srv *Server) resolveCustomer(ctx context.Context, body []byte) (any, *apiError) {
	var in resolveInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := srv.gate(ctx, OpResolveCustomer, nil); err != nil {
		return nil, err
	}
	var out *resolveOutput
	var aerr *apiError
	_ = srv.w.Do(func(s *world.State) error {
		out, aerr = resolve(s, &in)
		return nil
	})
	if aerr != nil {
		return nil, aerr
	}
	return out, nil
}

func resolve(s *world.State, in *resolveInput) (*resolveOutput, *apiError) {
	if in.RegistrationToken == nil {
		return nil, validation("registrationToken", "Member must not be null")
	}
	if *in.RegistrationToken == "" {
		return nil, validation("registrationToken", "Member must have length greater than or equal to 1")
	}
	t := s.Tokens[*in.RegistrationToken]
	if t == nil {
		return nil, newError(CodeInvalidToken, "Registration token is invalid.")
	}
	if s.Now().After(t.ExpiresAt) {
		return nil, newError(CodeExpiredToken, "Registration token has expired.")
	}
	out := &resolveOutput{CustomerAWSAccountId: t.AccountID, ProductCode: t.ProductCode, LicenseArn: t.LicenseArn, CustomerIdentifier: t.CustomerIdentifier}
	if l := s.Licenses[t.LicenseArn]; l != nil {
		// The license is the source of truth; CustomerIdentifier exists only
		// for legacy (non Concurrent Agreements) products.
		out.CustomerAWSAccountId, out.ProductCode, out.CustomerIdentifier = l.AccountID, l.ProductCode, l.CustomerIdentifier
	}
	return out, nil
}
