package console

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/concordmp/concord/internal/marketplace"
)

// option is one choice of a select or a group of radio buttons or checkboxes,
// with its words for people.
type option struct {
	Value, Label, Hint string
	Checked            bool
}

// roleOptions describes the roles for the user forms.
func roleOptions(selected string) []option {
	hints := map[string]string{
		RoleAdmin:    "Everything, including settings and users.",
		RoleRevOps:   "Offers, and everything but settings.",
		RoleFinance:  "Everything but offers and settings.",
		RoleReadOnly: "Sees every page, changes nothing.",
	}
	var out []option
	for _, r := range Roles {
		out = append(out, option{Value: r, Label: r, Hint: hints[r], Checked: r == selected})
	}
	return out
}

type userRow struct {
	User
	Self  bool
	Roles []option
}

type usersData struct {
	Users []userRow
	// The add form, as typed (never the password).
	Email string
	Roles []option
}

func (s *Service) usersView(r *http.Request, email, role string) (usersData, error) {
	d := usersData{Email: email, Roles: roleOptions(role)}
	users, err := s.ListUsers(r.Context())
	if err != nil {
		return d, err
	}
	me := sessionOf(r).User.ID
	for _, u := range users {
		d.Users = append(d.Users, userRow{User: u, Self: u.ID == me, Roles: roleOptions(u.Role)})
	}
	return d, nil
}

func (s *Service) showUsers(w http.ResponseWriter, r *http.Request, status int, d usersData, errs []fieldError, notice string) {
	s.render(w, r, status, "settings_users", view{Title: "Users", Nav: "settings", Data: d, Errors: errs, Status: notice})
}

// usersPage lists the console's users.
func (s *Service) usersPage(w http.ResponseWriter, r *http.Request) {
	d, err := s.usersView(r, "", RoleReadOnly)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	notice := ""
	q := r.URL.Query()
	for _, u := range d.Users {
		// Only what names a user that exists is confirmed: a link cannot make
		// the page say what nobody did.
		switch {
		case q.Get("added") != "" && normEmail(q.Get("added")) == u.Email:
			notice = "Added " + u.Email + ". Give them the password you chose through a channel you trust; they sign in at /console/login."
		case u.ID == q.Get("role"):
			notice = u.Email + " now has the " + u.Role + " role."
		case u.ID == q.Get("disabled"):
			notice = u.Email + " is disabled and was signed out everywhere."
		case u.ID == q.Get("enabled"):
			notice = u.Email + " is enabled again and can sign in."
		}
	}
	s.showUsers(w, r, http.StatusOK, d, nil, notice)
}

// addUser creates a user with the password the admin typed.
func (s *Service) addUser(w http.ResponseWriter, r *http.Request) {
	in := NewUser{Email: strings.TrimSpace(r.PostForm.Get("email")), Role: r.PostForm.Get("role"), Password: r.PostForm.Get("password")}
	var errs []fieldError
	problems := checkNewUser(in)
	for _, k := range []string{"email", "role", "password"} {
		if m, ok := problems[k]; ok {
			errs = append(errs, fieldError{ID: "user-" + k, Message: m})
		}
	}
	status := http.StatusBadRequest
	var u User
	if len(errs) == 0 {
		var err error
		u, err = s.CreateUser(r.Context(), in)
		switch marketplace.ErrorCode(err) {
		case "":
		case marketplace.EConflict:
			status, errs = http.StatusConflict, []fieldError{{ID: "user-email", Message: "A user with the email " + normEmail(in.Email) + " exists already."}}
		case marketplace.EInvalid:
			errs = []fieldError{{ID: "user-email", Message: marketplace.ErrorMessage(err)}}
		default:
			s.fail(w, r, err)
			return
		}
	}
	if len(errs) > 0 {
		if !marketplace.Storable(in.Email) {
			in.Email = ""
		}
		d, err := s.usersView(r, in.Email, in.Role)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.showUsers(w, r, status, d, errs, "")
		return
	}
	s.logger().Info("console: user added", "user", u.Email, "role", u.Role, "by", sessionOf(r).User.Email)
	http.Redirect(w, r, Prefix+"/settings/users?added="+url.QueryEscape(u.Email), http.StatusSeeOther)
}

// changeRole gives a user another role.
func (s *Service) changeRole(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	u, err := s.SetRole(r.Context(), id, r.PostForm.Get("role"))
	if s.userChangeFailed(w, r, "role-"+id, err) {
		return
	}
	s.logger().Info("console: user role changed", "user", u.Email, "role", u.Role, "by", sessionOf(r).User.Email)
	http.Redirect(w, r, Prefix+"/settings/users?role="+url.QueryEscape(u.ID), http.StatusSeeOther)
}

// disableUser signs a user out everywhere and keeps them out; enableUser
// lets them in again.
func (s *Service) disableUser(w http.ResponseWriter, r *http.Request) { s.setDisabled(w, r, true) }
func (s *Service) enableUser(w http.ResponseWriter, r *http.Request)  { s.setDisabled(w, r, false) }

func (s *Service) setDisabled(w http.ResponseWriter, r *http.Request, disabled bool) {
	id := r.PathValue("id")
	if disabled && id == sessionOf(r).User.ID {
		s.userChangeFailed(w, r, "status-"+id, marketplace.Errorf(marketplace.EConflict,
			"You cannot disable your own account. Another admin can do it."))
		return
	}
	u, err := s.SetDisabled(r.Context(), id, disabled)
	if s.userChangeFailed(w, r, "status-"+id, err) {
		return
	}
	what := "enabled"
	if disabled {
		what = "disabled"
	}
	s.logger().Info("console: user "+what, "user", u.Email, "by", sessionOf(r).User.Email)
	http.Redirect(w, r, Prefix+"/settings/users?"+what+"="+url.QueryEscape(u.ID), http.StatusSeeOther)
}

// userChangeFailed answers a refused change to one user with the users page
// and the reason next to that user's row; it reports whether it answered.
func (s *Service) userChangeFailed(w http.ResponseWriter, r *http.Request, fieldID string, err error) bool {
	if err == nil {
		return false
	}
	status, ok := refusal(err)
	if !ok {
		s.fail(w, r, err)
		return true
	}
	d, lerr := s.usersView(r, "", RoleReadOnly)
	if lerr != nil {
		s.fail(w, r, lerr)
		return true
	}
	s.showUsers(w, r, status, d, []fieldError{{ID: fieldID, Message: marketplace.ErrorMessage(err)}}, "")
	return true
}
