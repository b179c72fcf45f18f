package offer

import "context"

// changeSetOptions gives the change set what the offer's documents need: the
// URLs of the consolidated custom EULA and reseller agreement.
func (s *Service) changeSetOptions(ctx context.Context, o Offer) ([]ChangeSetOption, error) {
	return nil, nil
}
