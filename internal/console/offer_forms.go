package console

import "net/http"

func (s *Service) mountOfferForms(m *http.ServeMux) {}
