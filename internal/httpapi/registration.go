package httpapi

import "github.com/danielgtaylor/huma/v2"

// registerRegistration adds the /v1 operations of s.Registration (being written).
func (s *Server) registerRegistration(api huma.API) {}
