// Package registration runs the buyer registration flow and owns tenants.
package registration

// Service is the registration flow (being written).
type Service struct{}
