package console

import "net/http"

func (s *Service) mountLedger(m *http.ServeMux) {}
