package console

import (
	"net/http"
	"strconv"

	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/notify"
)

func (s *Service) mountNotification(m Mux) {
	m.HandleFunc("GET "+Prefix+"/notifications/{id}", s.signedIn(s.notificationPage))
	m.HandleFunc("GET "+Prefix+"/notifications/{id}/attachments/{n}", s.signedIn(s.notificationAttachment))
}

type notificationData struct {
	notify.Notification
}

// notificationPage shows one notification as it was rendered: the text (to
// copy, e.g. purchase instructions when no SMTP server is configured), the
// HTML in a sandboxed frame (no scripts, no links out, no access to the
// console) and as source, its recipients, attachments and deliveries.
func (s *Service) notificationPage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	n, err := s.Notify.Get(r.Context(), id)
	if marketplace.ErrorCode(err) == marketplace.ENotFound || (err != nil && !marketplace.Storable(id)) {
		sess := sessionOf(r)
		s.errorPage(w, r, &sess, http.StatusNotFound, "Notification not found",
			"There is no notification "+marketplace.Clip(id, 64)+". The notifications page lists them all.")
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "notification", view{Title: n.Subject, Nav: "notifications", Data: notificationData{n}})
}

// notificationAttachment downloads a notification's n-th file (from 1), the
// same bytes the email carried.
func (s *Service) notificationAttachment(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	atts, err := s.Notify.Attachments(r.Context(), id)
	n, nerr := strconv.Atoi(r.PathValue("n"))
	if marketplace.ErrorCode(err) == marketplace.ENotFound || (err == nil && (nerr != nil || n < 1 || n > len(atts))) {
		sess := sessionOf(r)
		s.errorPage(w, r, &sess, http.StatusNotFound, "Attachment not found",
			"The notification has no such attachment. Its page lists the files it carries.")
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	a := atts[n-1]
	ct := a.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	sendFile(w, ct, a.Name, a.Data)
}
