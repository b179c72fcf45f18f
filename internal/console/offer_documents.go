package console

import (
	"io"
	"net/http"

	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/offer"
)

// The custom contract documents of an offer: its EULA and, for a partner
// offer, the reseller agreement. Up to five TXT or PDF files, 6 MB in all,
// while the offer is a draft; offer.Service checks and consolidates them
// into the one PDF AWS fetches when the offer is published.

func (s *Service) mountOfferDocuments(m Mux) {
	m.HandleFunc("POST "+Prefix+"/offers/{id}/documents", s.signedInUpload(s.may(AreaOffers, s.uploadDocuments)))
	m.HandleFunc("POST "+Prefix+"/offers/{id}/documents/{doc}/remove", s.signedIn(s.may(AreaOffers, s.removeDocument)))
	m.HandleFunc("GET "+Prefix+"/offers/{id}/documents/{doc}", s.signedIn(s.downloadDocument))
	m.HandleFunc("GET "+Prefix+"/offers/{id}/contract/{kind}", s.signedIn(s.downloadContract))
}

// documentKinds names the two contracts for people.
var documentKinds = map[string]string{offer.KindEULA: "EULA", offer.KindReseller: "reseller agreement"}

// uploadDocuments adds the chosen files to the offer's contract of the
// chosen kind. Refused files change nothing, and the reason is shown by the
// file field.
func (s *Service) uploadDocuments(w http.ResponseWriter, r *http.Request) {
	d, ok := s.loadOffer(w, r)
	if !ok {
		return
	}
	kind := r.PostForm.Get("kind")
	refuse := func(status int, msg string) {
		s.showOffer(w, r, status, d, view{Errors: []fieldError{{ID: "documents-file", Message: msg}}}, offerData{})
	}
	if _, known := documentKinds[kind]; !known {
		refuse(http.StatusBadRequest, "Choose which contract the files belong to.")
		return
	}
	var files []offer.Upload
	if r.MultipartForm != nil {
		for _, fh := range r.MultipartForm.File["file"] {
			f, err := fh.Open()
			if err != nil {
				s.fail(w, r, err)
				return
			}
			content, err := io.ReadAll(f)
			f.Close()
			if err != nil {
				s.fail(w, r, err)
				return
			}
			files = append(files, offer.Upload{Name: fh.Filename, ContentType: offer.ContentTypeOf(fh.Filename, content), Content: content})
		}
	}
	if len(files) == 0 {
		refuse(http.StatusBadRequest, "Choose one or more TXT or PDF files to upload.")
		return
	}
	if _, err := s.Offers.AddDocuments(r.Context(), d.ID, kind, files); err != nil {
		if status, ok := refusal(err); ok {
			refuse(status, "The files were not added: "+marketplace.ErrorMessage(err))
		} else {
			s.fail(w, r, err)
		}
		return
	}
	s.logger().Info("console: offer documents added", "offer", d.ID, "kind", kind, "files", len(files), "user", sessionOf(r).User.Email)
	http.Redirect(w, r, Prefix+"/offers/"+d.ID+"?done=documents", http.StatusSeeOther)
}

// removeDocument takes one document out of the offer's contract.
func (s *Service) removeDocument(w http.ResponseWriter, r *http.Request) {
	d, ok := s.loadOffer(w, r)
	if !ok {
		return
	}
	doc := r.PathValue("doc")
	if _, err := s.Offers.RemoveDocument(r.Context(), d.ID, doc); err != nil {
		switch marketplace.ErrorCode(err) {
		case marketplace.EInvalid, marketplace.EConflict, marketplace.ENotFound:
			s.showOffer(w, r, http.StatusConflict, d, view{Errors: []fieldError{{ID: "documents-file", Message: "The document was not removed: " + marketplace.ErrorMessage(err)}}}, offerData{})
		default:
			s.fail(w, r, err)
		}
		return
	}
	s.logger().Info("console: offer document removed", "offer", d.ID, "document", doc, "user", sessionOf(r).User.Email)
	http.Redirect(w, r, Prefix+"/offers/"+d.ID+"?done=document-removed", http.StatusSeeOther)
}

// downloadDocument sends one uploaded document as it was uploaded.
func (s *Service) downloadDocument(w http.ResponseWriter, r *http.Request) {
	id, doc := r.PathValue("id"), r.PathValue("doc")
	if !safeID(id) || !safeID(doc) {
		s.fail(w, r, marketplace.Errorf(marketplace.ENotFound, "document not found"))
		return
	}
	sd, content, err := s.Offers.Document(r.Context(), id, doc)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sendFile(w, sd.ContentType, sd.Name, content)
}

// downloadContract sends the consolidated PDF of a contract (eula.pdf or
// reseller.pdf): what AWS fetches when the offer is published.
func (s *Service) downloadContract(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var kind string
	switch r.PathValue("kind") {
	case offer.KindEULA + ".pdf":
		kind = offer.KindEULA
	case offer.KindReseller + ".pdf":
		kind = offer.KindReseller
	}
	if !safeID(id) || kind == "" {
		s.fail(w, r, marketplace.Errorf(marketplace.ENotFound, "document not found"))
		return
	}
	pdf, err := s.Offers.Consolidated(r.Context(), id, kind)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sendFile(w, offer.ContentTypePDF, offer.DocumentFileName(kind), pdf)
}

// contractView is what the offer page's "contract" template shows of one
// contract.
type contractView struct {
	Offer     offerData
	CSRF      string
	CanChange bool // the user may change offers
	Kind      string
	Title     string
	Legal     offer.Legal
}

// contractOf builds a contractView in a template: legal is an offer.Legal
// or a *offer.Legal.
func contractOf(v view, d offerData, kind, title string, legal any) contractView {
	c := contractView{Offer: d, CSRF: v.CSRF, CanChange: v.User != nil && v.User.Can(AreaOffers), Kind: kind, Title: title}
	switch l := legal.(type) {
	case offer.Legal:
		c.Legal = l
	case *offer.Legal:
		if l != nil {
			c.Legal = *l
		}
	}
	return c
}
