package console

import "net/http"

func (s *Service) mountSettings(m *http.ServeMux) {}
