package console

import (
	"encoding/json"
	"net/http"
	"net/url"
	"time"

	"github.com/concordmp/concord/internal/audit"
	"github.com/concordmp/concord/internal/marketplace"
)

// auditPageSize is how many changes the Audit page shows at once.
const auditPageSize = 50

type auditData struct {
	Actor, Object, From, To string
	Objects                 []string
	Entries                 []auditRow
	// Older links to the next page ("" on the last).
	Older string
}

type auditRow struct {
	audit.Entry
	Changes []audit.FieldChange
}

func (s *Service) mountAudit(m Mux) {
	m.HandleFunc("GET "+Prefix+"/audit", s.signedIn(s.auditPage))
}

// auditPage lists the audit trail, newest first, filtered by actor, object
// and time; each change shows the settings it changed, old value and new.
// Only admins may read it: it names every user and what they did.
func (s *Service) auditPage(w http.ResponseWriter, r *http.Request) {
	sess := sessionOf(r)
	if sess.User.Role != RoleAdmin {
		s.errorPage(w, r, &sess, http.StatusForbidden, "Only admins can read the audit trail",
			"You are signed in as "+sess.User.Email+" with the "+sess.User.Role+" role. The audit trail names every user and what they did, so only admins can read it.")
		return
	}
	q := r.URL.Query()
	d := auditData{Actor: q.Get("actor"), Object: q.Get("object"), From: q.Get("from"), To: q.Get("to")}
	f := audit.Filter{Actor: d.Actor, Object: d.Object, ObjectID: q.Get("id"), Limit: auditPageSize}
	var errs []fieldError
	for _, c := range []struct {
		id, v string
		max   int
	}{{"actor", d.Actor, 320}, {"object", d.Object, 64}, {"id", f.ObjectID, 255}, {"after", q.Get("after"), 100}} {
		if !marketplace.Storable(c.v) || len(c.v) > c.max {
			errs = append(errs, fieldError{ID: c.id, Message: "That filter is not one the trail can hold: clear it."})
			d.Actor, d.Object, f = "", "", audit.Filter{Limit: auditPageSize}
		}
	}
	f.After = q.Get("after")
	day := func(id, v string) time.Time {
		if v == "" {
			return time.Time{}
		}
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			errs = append(errs, fieldError{ID: id, Message: "Give a date as YYYY-MM-DD."})
			return time.Time{}
		}
		return t
	}
	f.From = day("from", d.From)
	if to := day("to", d.To); !to.IsZero() {
		f.To = to.AddDate(0, 0, 1) // the whole day "to" names
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		errs = append(errs, fieldError{ID: "to", Message: "The last day comes before the first."})
		f.From, f.To = time.Time{}, time.Time{}
	}
	if len(errs) > 0 {
		f.After = ""
	}
	objects, err := audit.Objects(r.Context(), s.DB)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d.Objects = objects
	entries, err := audit.List(r.Context(), s.DB, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, e := range entries {
		d.Entries = append(d.Entries, auditRow{Entry: e, Changes: readable(audit.Diff(e.Before, e.After))})
	}
	if len(entries) == auditPageSize {
		next := url.Values{}
		for k, v := range map[string]string{"actor": d.Actor, "object": d.Object, "id": f.ObjectID, "from": d.From, "to": d.To} {
			if v != "" {
				next.Set(k, v)
			}
		}
		next.Set("after", entries[len(entries)-1].ID)
		d.Older = Prefix + "/audit?" + next.Encode()
	}
	status := http.StatusOK
	if len(errs) > 0 {
		status = http.StatusBadRequest
	}
	s.render(w, r, status, "audit", view{Title: "Audit trail", Nav: "audit", Errors: errs, Data: d})
}

// readable shows a JSON string without its quotes, and an absent value as
// "(none)", so a change reads "Old title → New title".
func readable(cs []audit.FieldChange) []audit.FieldChange {
	un := func(v string) string {
		if v == "" {
			return "(none)"
		}
		var s string
		if json.Unmarshal([]byte(v), &s) == nil {
			if s == "" {
				return "(empty)"
			}
			return s
		}
		return v
	}
	for i := range cs {
		cs[i].Before, cs[i].After = un(cs[i].Before), un(cs[i].After)
	}
	return cs
}
