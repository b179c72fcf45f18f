package httpapi

import "github.com/danielgtaylor/huma/v2"

// registerWebhooks adds the /v1 operations of s.Webhooks (being written).
func (s *Server) registerWebhooks(api huma.API) {}
