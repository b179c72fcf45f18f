package httpapi

import "github.com/danielgtaylor/huma/v2"

// registerEntitlements adds the /v1 operations of s.Entitlements (being written).
func (s *Server) registerEntitlements(api huma.API) {}
