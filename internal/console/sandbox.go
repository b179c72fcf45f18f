package console

import "net/http"

func (s *Service) mountSandbox(m *http.ServeMux) {}
