package offer

// This file holds custom contract documents: the TXT and PDF files uploaded
// for an offer's custom EULA or (partner offers) its custom reseller
// agreement, their consolidation into the one PDF AWS takes per contract, and
// the public URL AWS fetches it from.
//
// An offer's form lists the documents of each contract by id, in order; the
// offer_documents table holds their content. A clone lists its source's
// documents, so a document is deleted only once no form lists it. The
// consolidated PDF is stored with the digest of what it was made from and
// rebuilt, under a new random token, only when that changes.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"path"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/concordmp/concord/internal/job"
	"github.com/concordmp/concord/internal/marketplace"
	"github.com/concordmp/concord/internal/pdfdoc"
	"github.com/concordmp/concord/internal/store"
)

// Kinds of contract document.
const (
	// KindEULA is the buyer's end user license agreement.
	KindEULA = "eula"
	// KindReseller is a partner offer's reseller agreement, which only the
	// reseller sees.
	KindReseller = "reseller"
)

// Content types a document can have.
const (
	ContentTypeText = "text/plain"
	ContentTypePDF  = "application/pdf"
)

// MaxDocumentNameLength bounds a document's file name.
const MaxDocumentNameLength = 255

// Upload is one file to add to a contract.
type Upload struct {
	Name        string
	ContentType string
	Content     []byte
}

// StoredDocument is an uploaded document as Documents lists it.
type StoredDocument struct {
	ID          string    `json:"id"`
	Kind        string    `json:"kind" doc:"eula or reseller"`
	Name        string    `json:"name"`
	ContentType string    `json:"contentType" doc:"text/plain or application/pdf"`
	Size        int64     `json:"size" doc:"Bytes."`
	Pages       int       `json:"pages" doc:"Pages it takes in the consolidated PDF."`
	SHA256      string    `json:"sha256"`
	CreatedAt   time.Time `json:"createdAt"`
}

// PublicFile is a consolidated contract as its public URL serves it.
type PublicFile struct {
	Content   []byte
	CreatedAt time.Time
	// InputsSHA256 digests the documents it was made from.
	InputsSHA256 string
}

// DocumentFileName is the file name of a kind's consolidated PDF in its
// public URL.
func DocumentFileName(kind string) string {
	if kind == KindReseller {
		return "reseller-agreement.pdf"
	}
	return "eula.pdf"
}

// whatOf names a kind of contract in messages.
func whatOf(kind string) string {
	if kind == KindReseller {
		return "reseller agreement"
	}
	return "EULA"
}

// checked is an upload whose content passed the checks.
type checked struct {
	Upload
	pages int // PDFs only; text is counted once rendered
}

// CheckUpload checks a file before it is stored: a name, a TXT (UTF-8 text
// without NUL bytes) or PDF (starting with %PDF- and readable) document by
// its content, not just by its declared type, and at most MaxEULABytes. It
// returns the file with its name and content type normalised.
func CheckUpload(u Upload) (Upload, error) {
	c, err := checkUpload(u)
	return c.Upload, err
}

func checkUpload(u Upload) (checked, error) {
	name, err := documentName(u.Name)
	if err != nil {
		return checked{}, err
	}
	u.Name = name
	q := fmt.Sprintf("%q", marketplace.Clip(name, 80))
	if len(u.Content) == 0 {
		return checked{}, marketplace.Errorf(marketplace.EInvalid, "%s is empty", q)
	}
	if len(u.Content) > MaxEULABytes {
		return checked{}, marketplace.Errorf(marketplace.EInvalid, "%s is %s; the documents of a contract come to at most 6 MB in total", q, megabytes(int64(len(u.Content))))
	}
	mt, _, err := mime.ParseMediaType(u.ContentType)
	if err != nil && u.ContentType != "" {
		mt = u.ContentType
	}
	isPDF := bytes.HasPrefix(u.Content, []byte("%PDF-"))
	switch strings.ToLower(mt) {
	case ContentTypePDF:
		u.ContentType = ContentTypePDF
		if !isPDF {
			return checked{}, marketplace.Errorf(marketplace.EInvalid, "%s is not a PDF: a PDF starts with %%PDF-", q)
		}
		pages, err := pdfdoc.PageCount(u.Content)
		if err != nil {
			return checked{}, marketplace.Errorf(marketplace.EInvalid, "%s is a PDF Concord cannot read (damaged, or protected by a password?), so it could not be consolidated: %s",
				q, marketplace.Clip(strings.TrimPrefix(err.Error(), pdfdoc.ErrUnreadable.Error()+": "), 200))
		}
		return checked{Upload: u, pages: pages}, nil
	case ContentTypeText:
		u.ContentType = ContentTypeText
		switch {
		case isPDF:
			return checked{}, marketplace.Errorf(marketplace.EInvalid, "%s is a PDF, not text: upload it as %s", q, ContentTypePDF)
		case !utf8.Valid(u.Content):
			return checked{}, marketplace.Errorf(marketplace.EInvalid, "%s is not UTF-8 text: save it as UTF-8 text, or upload a PDF", q)
		case bytes.IndexByte(u.Content, 0) >= 0:
			return checked{}, marketplace.Errorf(marketplace.EInvalid, "%s holds NUL bytes: it is a binary file, not text", q)
		}
		return checked{Upload: u}, nil
	case "":
		return checked{}, marketplace.Errorf(marketplace.EInvalid, "%s has no content type: upload a TXT (%s) or PDF (%s) document", q, ContentTypeText, ContentTypePDF)
	}
	return checked{}, marketplace.Errorf(marketplace.EInvalid, "%s is %s: only TXT (%s) and PDF (%s) documents can be uploaded",
		q, marketplace.Clip(mt, 80), ContentTypeText, ContentTypePDF)
}

// documentName is the file name of an upload without any directory.
func documentName(name string) (string, error) {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.TrimSpace(name)
	switch {
	case name == "" || name == "." || name == "..":
		return "", marketplace.Errorf(marketplace.EInvalid, "give the document a file name, such as terms.pdf")
	case !utf8.ValidString(name) || strings.IndexFunc(name, unicode.IsControl) >= 0:
		return "", marketplace.Errorf(marketplace.EInvalid, "the file name %q holds control characters or invalid UTF-8", marketplace.Clip(name, 80))
	case utf8.RuneCountInString(name) > MaxDocumentNameLength:
		return "", marketplace.Errorf(marketplace.EInvalid, "the file name %q is longer than %d characters", marketplace.Clip(name, 80), MaxDocumentNameLength)
	}
	return name, nil
}

// ContentTypeOf guesses a file's content type from its name (.pdf, .txt)
// and, failing that, its content; the upload checks have the last word.
func ContentTypeOf(name string, content []byte) string {
	switch strings.ToLower(path.Ext(name)) {
	case ".pdf":
		return ContentTypePDF
	case ".txt", ".text":
		return ContentTypeText
	}
	if bytes.HasPrefix(content, []byte("%PDF-")) {
		return ContentTypePDF
	}
	if utf8.Valid(content) && bytes.IndexByte(content, 0) < 0 {
		return ContentTypeText
	}
	return "application/octet-stream"
}

func megabytes(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/(1<<20)) }

// legal is the contract of the given kind in o's form, or nil.
func legal(o *Offer, kind string) *Legal {
	if kind == KindReseller {
		return o.ResellerAgreement
	}
	return &o.EULA
}

func checkKind(kind string) error {
	if kind != KindEULA && kind != KindReseller {
		return marketplace.Errorf(marketplace.EInvalid, "the kind of document must be eula or reseller, not %q", marketplace.Clip(kind, 20))
	}
	return nil
}

// editable refuses documents of the given kind on o unless o is a draft (or
// failed) and, for a reseller agreement, a partner offer.
func editable(o Offer, kind string) error {
	if o.State != StateDraft && o.State != StateFailed {
		return marketplace.Errorf(marketplace.EConflict, "offer %s is %s: its documents can change only while it is a draft (or failed); clone it for a new offer", o.ID, o.State)
	}
	if kind == KindReseller && o.Type != TypePartner {
		return marketplace.Errorf(marketplace.EInvalid, "offer %s is a %s offer: only a partner offer has a reseller agreement", o.ID, o.Type)
	}
	return nil
}

// docRow is a stored document; content is loaded only when asked for.
type docRow struct {
	StoredDocument
	offerID string
	content []byte
}

// loadDocs returns the documents with the given ids, in that order; an id
// with no stored document is an error naming the contract.
func loadDocs(ctx context.Context, tx *store.Tx, offerID, kind string, docs []Document, withContent bool) ([]docRow, error) {
	out := make([]docRow, 0, len(docs))
	cols := `id, offer_id, kind, name, content_type, size, pages, sha256, created_at`
	if withContent {
		cols += `, content`
	}
	for _, d := range docs {
		var r docRow
		var created int64
		dest := []any{&r.ID, &r.offerID, &r.Kind, &r.Name, &r.ContentType, &r.Size, &r.Pages, &r.SHA256, &created}
		if withContent {
			dest = append(dest, &r.content)
		}
		err := tx.QueryRow(ctx, `SELECT `+cols+` FROM offer_documents WHERE id = ?`, d.ID).Scan(dest...)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, marketplace.Errorf(marketplace.EInvalid, "the custom %s of offer %s lists %q, which Concord does not hold (a form can name only uploaded documents): edit the form to drop it, and upload the document with POST /v1/offers/%s/documents",
				whatOf(kind), offerID, marketplace.Clip(d.Name, 80), offerID)
		} else if err != nil {
			return nil, fmt.Errorf("load document %s: %w", d.ID, err)
		}
		r.CreatedAt = store.FromMillis(created)
		out = append(out, r)
	}
	return out, nil
}

// inputsDigest digests what a consolidation is made from: each document's
// content, type and name (a text document's heading), in order.
func inputsDigest(docs []docRow) string {
	h := sha256.New()
	h.Write([]byte("concord consolidation v1\n"))
	for _, d := range docs {
		fmt.Fprintf(h, "%s %s %d %s\n", d.SHA256, d.ContentType, len(d.Name), d.Name)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// part is a document as pages of the consolidated PDF.
func part(name, contentType string, content []byte) ([]byte, error) {
	if contentType == ContentTypePDF {
		return content, nil
	}
	return pdfdoc.TextToPDF(name, string(content))
}

// consolidation is a stored consolidated PDF.
type consolidation struct {
	token, inputs string
	pages         int
	content       []byte
}

func loadConsolidation(ctx context.Context, tx *store.Tx, offerID, kind string, withContent bool) (consolidation, bool, error) {
	var c consolidation
	cols := `token, inputs_sha256, pages`
	dest := []any{&c.token, &c.inputs, &c.pages}
	if withContent {
		cols += `, content`
		dest = append(dest, &c.content)
	}
	err := tx.QueryRow(ctx, `SELECT `+cols+` FROM offer_consolidations WHERE offer_id = ? AND kind = ?`, offerID, kind).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return c, false, nil
	} else if err != nil {
		return c, false, fmt.Errorf("load consolidated %s of offer %s: %w", kind, offerID, err)
	}
	return c, true, nil
}

// saveConsolidation stores a consolidated PDF for offerID's kind under a new
// token, replacing any older one; if one made from the same inputs is there
// already (made meanwhile), that one is kept and returned.
func (s *Service) saveConsolidation(ctx context.Context, tx *store.Tx, offerID, kind, inputs string, content []byte, pages int) (consolidation, error) {
	cur, ok, err := loadConsolidation(ctx, tx, offerID, kind, false)
	if err != nil {
		return consolidation{}, err
	}
	if ok && cur.inputs == inputs {
		return cur, nil
	}
	c := consolidation{token: newToken(), inputs: inputs, pages: pages, content: content}
	_, err = tx.Exec(ctx, `INSERT INTO offer_consolidations (token, offer_id, kind, inputs_sha256, size, pages, content, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (offer_id, kind) DO UPDATE SET token = excluded.token, inputs_sha256 = excluded.inputs_sha256, size = excluded.size,
		pages = excluded.pages, content = excluded.content, created_at = excluded.created_at`,
		c.token, offerID, kind, inputs, int64(len(content)), pages, content, store.Millis(s.now()))
	if err != nil {
		return consolidation{}, fmt.Errorf("store consolidated %s of offer %s: %w", kind, offerID, err)
	}
	return c, nil
}

// newToken is 256 random bits, URL-safe: the secret in a public document URL.
func newToken() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func newDocumentID() string {
	return "doc_" + strings.ReplaceAll(uuid.Must(uuid.NewV7()).String(), "-", "")
}

// AddDocument adds one TXT or PDF document to an offer's custom EULA (kind
// eula) or, for a partner offer, its custom reseller agreement (kind
// reseller); see AddDocuments.
func (s *Service) AddDocument(ctx context.Context, offerID, kind, name, contentType string, content []byte) (Detail, error) {
	return s.AddDocuments(ctx, offerID, kind, []Upload{{Name: name, ContentType: contentType, Content: content}})
}

// AddDocuments adds documents, in order, to an offer's contract of the given
// kind, all or none: the contract becomes custom and its form lists them.
// Only a draft (or failed) offer's documents can change. Each file's content
// is checked (CheckUpload); a contract holds at most MaxEULADocuments
// documents and MaxEULABytes in total; and the documents are consolidated at
// once, so a document that cannot be merged is refused now rather than when
// the offer is published. Refused input changes nothing.
func (s *Service) AddDocuments(ctx context.Context, offerID, kind string, files []Upload) (Detail, error) {
	if err := checkKind(kind); err != nil {
		return Detail{}, err
	}
	if len(files) == 0 {
		return Detail{}, marketplace.Errorf(marketplace.EInvalid, "no document to add")
	}
	news := make([]checked, len(files))
	for i, f := range files {
		c, err := checkUpload(f)
		if err != nil {
			return Detail{}, err
		}
		news[i] = c
	}
	// The consolidation is built outside the transaction (it can take a
	// second), from the documents the form listed then; if they changed
	// meanwhile, it is built again.
	for attempt := 0; ; attempt++ {
		out, retry, err := s.addDocuments(ctx, offerID, kind, news)
		if !retry || attempt == 2 {
			return out, err
		}
	}
}

func (s *Service) addDocuments(ctx context.Context, offerID, kind string, news []checked) (out Detail, retry bool, err error) {
	what := whatOf(kind)
	var o Detail
	var existing []docRow
	var base consolidation
	var haveBase bool
	err = s.DB.Read(ctx, func(tx *store.Tx) error {
		var err error
		if o, err = load(ctx, tx, offerID); err != nil {
			return err
		}
		if err := editable(o.Offer, kind); err != nil {
			return err
		}
		var listed []Document
		if l := legal(&o.Offer, kind); l != nil && l.Kind == "custom" {
			listed = l.Documents
		}
		if existing, err = loadDocs(ctx, tx, offerID, kind, listed, false); err != nil {
			return err
		}
		if len(existing) == 0 {
			return nil
		}
		// The stored consolidation, when it is of the existing documents.
		if base, haveBase, err = loadConsolidation(ctx, tx, offerID, kind, false); err != nil || !haveBase || base.inputs != inputsDigest(existing) {
			haveBase = false
			return err
		}
		base, haveBase, err = loadConsolidation(ctx, tx, offerID, kind, true)
		haveBase = haveBase && base.inputs == inputsDigest(existing)
		return err
	})
	if err != nil {
		return Detail{}, false, err
	}
	if n := len(existing) + len(news); n > MaxEULADocuments {
		if len(news) == 1 {
			return Detail{}, false, marketplace.Errorf(marketplace.EInvalid, "the custom %s of offer %s has %d documents already and takes at most %d (they are consolidated into one): remove one before adding %q",
				what, offerID, len(existing), MaxEULADocuments, marketplace.Clip(news[0].Name, 80))
		}
		return Detail{}, false, marketplace.Errorf(marketplace.EInvalid, "adding %d documents would give the custom %s of offer %s %d; it takes at most %d (they are consolidated into one)",
			len(news), what, offerID, n, MaxEULADocuments)
	}
	var total int64
	for _, d := range existing {
		total += d.Size
	}
	for _, d := range news {
		total += int64(len(d.Content))
	}
	if total > MaxEULABytes {
		return Detail{}, false, marketplace.Errorf(marketplace.EInvalid, "adding %q would bring the documents of the custom %s to %s; at most 6 MB in total",
			marketplace.Clip(news[len(news)-1].Name, 80), what, megabytes(total))
	}

	// Consolidate: the stored consolidation of the existing documents when it
	// is current, else the existing documents themselves; then the new ones.
	rows := append([]docRow(nil), existing...)
	var parts [][]byte
	if haveBase {
		parts = append(parts, base.content)
	} else if len(existing) > 0 {
		var withContent []docRow
		err := s.DB.Read(ctx, func(tx *store.Tx) error {
			var err error
			withContent, err = loadDocs(ctx, tx, offerID, kind, documentsOf(existing), true)
			return err
		})
		if err != nil {
			return Detail{}, false, err
		}
		for _, d := range withContent {
			p, err := part(d.Name, d.ContentType, d.content)
			if err != nil {
				return Detail{}, false, fmt.Errorf("render %s: %w", d.Name, err)
			}
			parts = append(parts, p)
		}
	}
	now := s.now()
	for _, n := range news {
		p, err := part(n.Name, n.ContentType, n.Content)
		if err != nil {
			return Detail{}, false, marketplace.Errorf(marketplace.EInvalid, "%q could not be rendered as PDF: %v", marketplace.Clip(n.Name, 80), err)
		}
		pages := n.pages
		if n.ContentType == ContentTypeText {
			if pages, err = pdfdoc.PageCount(p); err != nil {
				return Detail{}, false, fmt.Errorf("count the pages of %s as rendered: %w", n.Name, err)
			}
		}
		sum := sha256.Sum256(n.Content)
		rows = append(rows, docRow{StoredDocument: StoredDocument{ID: newDocumentID(), Kind: kind, Name: n.Name, ContentType: n.ContentType,
			Size: int64(len(n.Content)), Pages: pages, SHA256: hex.EncodeToString(sum[:]), CreatedAt: now}, offerID: offerID, content: n.Content})
		parts = append(parts, p)
	}
	merged, err := pdfdoc.Merge(parts...)
	if err != nil {
		names := make([]string, len(news))
		for i, n := range news {
			names[i] = fmt.Sprintf("%q", marketplace.Clip(n.Name, 80))
		}
		return Detail{}, false, marketplace.Errorf(marketplace.EInvalid, "%s could not be consolidated with the other documents of the %s: %s",
			strings.Join(names, ", "), what, marketplace.Clip(err.Error(), 200))
	}
	pages := 0
	for _, r := range rows {
		pages += r.Pages
	}

	err = s.DB.Write(ctx, func(tx *store.Tx) error {
		retry = false
		cur, err := load(ctx, tx, offerID)
		if err != nil {
			return err
		}
		if err := editable(cur.Offer, kind); err != nil {
			return err
		}
		l := legal(&cur.Offer, kind)
		if l == nil {
			cur.ResellerAgreement = &Legal{}
			l = cur.ResellerAgreement
		}
		if l.Kind != "custom" {
			l.Documents = nil
		}
		if !sameDocuments(l.Documents, documentsOf(existing)) {
			retry = true
			return marketplace.Errorf(marketplace.EConflict, "the documents of offer %s changed while these were added; try again", offerID)
		}
		l.Kind = "custom"
		l.Documents = documentsOf(rows)
		for i, r := range rows[len(existing):] {
			_, err := tx.Exec(ctx, `INSERT INTO offer_documents (id, offer_id, kind, position, name, content_type, size, pages, sha256, content, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, r.ID, offerID, kind, len(existing)+i, r.Name, r.ContentType, r.Size, r.Pages, r.SHA256, r.content, store.Millis(now))
			if err != nil {
				return fmt.Errorf("store document %s: %w", r.Name, err)
			}
		}
		cur.UpdatedAt = now
		if err := save(ctx, tx, cur.Offer); err != nil {
			return err
		}
		for _, r := range rows[len(existing):] {
			msg := fmt.Sprintf("%s: %q (%s, %s, %d %s)", what, r.Name, r.ContentType, size(r.Size), r.Pages, plural(r.Pages, "page"))
			if err := history(ctx, tx, offerID, now, cur.State, "document added", msg); err != nil {
				return err
			}
		}
		if _, err := s.saveConsolidation(ctx, tx, offerID, kind, inputsDigest(rows), merged, pages); err != nil {
			return err
		}
		if err := prune(ctx, tx, offerID); err != nil {
			return err
		}
		out, err = load(ctx, tx, offerID)
		return err
	})
	if err != nil {
		return Detail{}, retry, err
	}
	return out, false, nil
}

func documentsOf(rows []docRow) []Document {
	out := make([]Document, len(rows))
	for i, r := range rows {
		out[i] = Document{ID: r.ID, Name: r.Name, ContentType: r.ContentType, Size: r.Size}
	}
	return out
}

func sameDocuments(a, b []Document) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID {
			return false
		}
	}
	return true
}

func size(n int64) string {
	switch {
	case n >= 1<<20:
		return megabytes(n)
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// prune deletes the documents uploaded to offerID, and those named by also,
// that no offer's form lists any more (a form edited to drop them, a document
// removed), and renumbers offerID's own in the order its form lists them.
func prune(ctx context.Context, tx *store.Tx, offerID string, also ...string) error {
	scan := func(r store.Scanner) ([2]string, error) {
		var v [2]string
		err := r.Scan(&v[0], &v[1])
		return v, err
	}
	rows, err := store.QueryAll(ctx, tx, scan, `SELECT id, kind FROM offer_documents WHERE offer_id = ?`, offerID)
	if err != nil {
		return fmt.Errorf("list documents of offer %s: %w", offerID, err)
	}
	own := len(rows)
	for _, id := range also {
		more, err := store.QueryAll(ctx, tx, scan, `SELECT id, kind FROM offer_documents WHERE id = ? AND offer_id <> ?`, id, offerID)
		if err != nil {
			return fmt.Errorf("load document %s: %w", id, err)
		}
		rows = append(rows, more...)
	}
	o, err := load(ctx, tx, offerID)
	if err != nil {
		return err
	}
	position := map[string]int{}
	for _, kind := range []string{KindEULA, KindReseller} {
		if l := legal(&o.Offer, kind); l != nil && l.Kind == "custom" {
			for i, d := range l.Documents {
				position[kind+" "+d.ID] = i
			}
		}
	}
	for i, r := range rows {
		id, kind := r[0], r[1]
		if p, ok := position[kind+" "+id]; ok {
			if i < own {
				if _, err := tx.Exec(ctx, `UPDATE offer_documents SET position = ? WHERE id = ?`, p, id); err != nil {
					return err
				}
			}
			continue
		}
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM offers WHERE form LIKE ? LIMIT 1`, `%"id":"`+id+`"%`).Scan(&one)
		if err == nil {
			continue // a clone lists it
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM offer_documents WHERE id = ?`, id); err != nil {
			return fmt.Errorf("delete document %s: %w", id, err)
		}
	}
	return nil
}

// RemoveDocument takes a document off a draft (or failed) offer's contract.
// The contract stays custom, even with no documents left (the offer cannot
// be submitted then): choose the standard contract by editing the form.
func (s *Service) RemoveDocument(ctx context.Context, offerID, docID string) (Detail, error) {
	var out Detail
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		cur, err := load(ctx, tx, offerID)
		if err != nil {
			return err
		}
		for _, kind := range []string{KindEULA, KindReseller} {
			l := legal(&cur.Offer, kind)
			if l == nil {
				continue
			}
			for i, d := range l.Documents {
				if d.ID != docID || docID == "" {
					continue
				}
				if err := editable(cur.Offer, kind); err != nil {
					return err
				}
				l.Documents = append(l.Documents[:i:i], l.Documents[i+1:]...)
				now := s.now()
				cur.UpdatedAt = now
				if err := save(ctx, tx, cur.Offer); err != nil {
					return err
				}
				msg := fmt.Sprintf("%s: %q", whatOf(kind), d.Name)
				if len(l.Documents) == 0 && l.Kind == "custom" {
					msg += fmt.Sprintf("; the custom %s has no documents left: upload one, or choose the standard one", whatOf(kind))
				}
				if err := history(ctx, tx, offerID, now, cur.State, "document removed", msg); err != nil {
					return err
				}
				// The consolidation no longer matches; it is made again when needed.
				if _, err := tx.Exec(ctx, `DELETE FROM offer_consolidations WHERE offer_id = ? AND kind = ?`, offerID, kind); err != nil {
					return err
				}
				if err := prune(ctx, tx, offerID, d.ID); err != nil {
					return err
				}
				out, err = load(ctx, tx, offerID)
				return err
			}
		}
		return marketplace.Errorf(marketplace.ENotFound, "document %s is not one of offer %s's documents", marketplace.Clip(docID, 80), offerID)
	})
	return out, err
}

// Documents lists the documents of an offer's custom contracts (the EULA's,
// then the reseller agreement's), in order, without their content.
func (s *Service) Documents(ctx context.Context, offerID string) ([]StoredDocument, error) {
	out := []StoredDocument{}
	err := s.DB.Read(ctx, func(tx *store.Tx) error {
		o, err := load(ctx, tx, offerID)
		if err != nil {
			return err
		}
		for _, kind := range []string{KindEULA, KindReseller} {
			l := legal(&o.Offer, kind)
			if l == nil || l.Kind != "custom" {
				continue
			}
			rows, err := loadDocs(ctx, tx, offerID, kind, l.Documents, false)
			if err != nil {
				return err
			}
			for _, r := range rows {
				r.Kind = kind
				out = append(out, r.StoredDocument)
			}
		}
		return nil
	})
	return out, err
}

// Document returns one of an offer's documents with its content, as uploaded.
func (s *Service) Document(ctx context.Context, offerID, docID string) (StoredDocument, []byte, error) {
	var row docRow
	err := s.DB.Read(ctx, func(tx *store.Tx) error {
		o, err := load(ctx, tx, offerID)
		if err != nil {
			return err
		}
		for _, kind := range []string{KindEULA, KindReseller} {
			l := legal(&o.Offer, kind)
			if l == nil {
				continue
			}
			for _, d := range l.Documents {
				if d.ID == docID && docID != "" {
					rows, err := loadDocs(ctx, tx, offerID, kind, []Document{d}, true)
					if err != nil {
						return err
					}
					row = rows[0]
					row.Kind = kind
					return nil
				}
			}
		}
		return marketplace.Errorf(marketplace.ENotFound, "document %s is not one of offer %s's documents", marketplace.Clip(docID, 80), offerID)
	})
	return row.StoredDocument, row.content, err
}

// Consolidated returns the one PDF an offer's custom contract of the given
// kind consolidates its documents into, in order: text rendered as pages,
// PDFs as they are. It is stored and made again only when the documents
// change.
func (s *Service) Consolidated(ctx context.Context, offerID, kind string) ([]byte, error) {
	c, err := s.consolidate(ctx, offerID, kind, true)
	return c.content, err
}

// consolidate returns the current consolidation of offerID's contract of
// the given kind, making and storing it if the documents changed.
func (s *Service) consolidate(ctx context.Context, offerID, kind string, withContent bool) (consolidation, error) {
	if err := checkKind(kind); err != nil {
		return consolidation{}, err
	}
	what := whatOf(kind)
	var docs []docRow
	var cur consolidation
	var fresh bool
	err := s.DB.Read(ctx, func(tx *store.Tx) error {
		o, err := load(ctx, tx, offerID)
		if err != nil {
			return err
		}
		l := legal(&o.Offer, kind)
		switch {
		case kind == KindReseller && o.Type != TypePartner:
			return marketplace.Errorf(marketplace.ENotFound, "offer %s is a %s offer: only a partner offer has a reseller agreement", offerID, o.Type)
		case l == nil || l.Kind != "custom":
			return marketplace.Errorf(marketplace.ENotFound, "offer %s has the standard %s: there is no custom document", offerID, what)
		case len(l.Documents) == 0:
			return marketplace.Errorf(marketplace.EInvalid, "the custom %s of offer %s has no documents: upload them with POST /v1/offers/%s/documents?kind=%s (or concord offer document add), or choose the standard %s",
				what, offerID, offerID, kind, what)
		}
		if docs, err = loadDocs(ctx, tx, offerID, kind, l.Documents, false); err != nil {
			return err
		}
		var ok bool
		cur, ok, err = loadConsolidation(ctx, tx, offerID, kind, withContent)
		fresh = ok && cur.inputs == inputsDigest(docs)
		return err
	})
	if err != nil || fresh {
		return cur, err
	}
	// The same documents (a clone's, say) give the same PDF another offer
	// has: reusing its bytes keeps the S3 key, so nothing is uploaded twice.
	var reused bool
	err = s.DB.Write(ctx, func(tx *store.Tx) error {
		var content []byte
		var pages int
		err := tx.QueryRow(ctx, `SELECT content, pages FROM offer_consolidations WHERE kind = ? AND inputs_sha256 = ? AND offer_id <> ? ORDER BY created_at LIMIT 1`,
			kind, inputsDigest(docs), offerID).Scan(&content, &pages)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		} else if err != nil {
			return fmt.Errorf("look for a consolidated %s made from the same documents: %w", kind, err)
		}
		reused = true
		cur, err = s.saveConsolidation(ctx, tx, offerID, kind, inputsDigest(docs), content, pages)
		if err == nil && withContent && cur.content == nil {
			cur, _, err = loadConsolidation(ctx, tx, offerID, kind, true)
		}
		return err
	})
	if err != nil || reused {
		return cur, err
	}
	err = s.DB.Read(ctx, func(tx *store.Tx) error {
		var err error
		docs, err = loadDocs(ctx, tx, offerID, kind, documentsOf(docs), true)
		return err
	})
	if err != nil {
		return consolidation{}, err
	}
	parts := make([][]byte, len(docs))
	pages := 0
	for i, d := range docs {
		if parts[i], err = part(d.Name, d.ContentType, d.content); err != nil {
			return consolidation{}, fmt.Errorf("render %s of offer %s: %w", d.Name, offerID, err)
		}
		pages += d.Pages
	}
	merged, err := pdfdoc.Merge(parts...)
	if err != nil {
		return consolidation{}, marketplace.Errorf(marketplace.EInvalid, "the documents of the custom %s of offer %s could not be consolidated: %s", what, offerID, marketplace.Clip(err.Error(), 200))
	}
	err = s.DB.Write(ctx, func(tx *store.Tx) error {
		var err error
		cur, err = s.saveConsolidation(ctx, tx, offerID, kind, inputsDigest(docs), merged, pages)
		if err == nil && withContent && cur.content == nil {
			cur, _, err = loadConsolidation(ctx, tx, offerID, kind, true)
		}
		return err
	})
	return cur, err
}

// PublicDocument returns the consolidated contract of the given kind whose
// public URL holds token (the URL offers published before documents went to
// S3 carry). A reseller agreement is reachable only by its own token and
// file name.
func (s *Service) PublicDocument(ctx context.Context, token, kind string) (PublicFile, error) {
	var f PublicFile
	err := s.DB.Read(ctx, func(tx *store.Tx) error {
		var created int64
		err := tx.QueryRow(ctx, `SELECT content, created_at, inputs_sha256 FROM offer_consolidations WHERE token = ? AND kind = ?`, token, kind).
			Scan(&f.Content, &created, &f.InputsSHA256)
		if errors.Is(err, sql.ErrNoRows) {
			return marketplace.Errorf(marketplace.ENotFound, "no such document")
		} else if err != nil {
			return err
		}
		f.CreatedAt = store.FromMillis(created)
		return nil
	})
	return f, err
}

// DocumentStore publishes consolidated contract documents where AWS
// Marketplace reads them: AWS takes a custom EULA only as a URL into an
// accessible Amazon S3 bucket (the Agreement API's DocumentItem), so
// awsmp.Documents stores them in the --documents-bucket.
type DocumentStore interface {
	// Publish stores content under key unless it is there already, and
	// returns the URL AWS reads it from. Coded errors are S3's refusals,
	// shown to the seller as they are.
	Publish(ctx context.Context, key, contentType string, content []byte) (url string, err error)
}

// DocumentKey is the S3 key of a consolidated contract: derived from its
// SHA-256, so a published document never changes under its URL and the same
// content is stored once, however many offers carry it.
func DocumentKey(kind string, content []byte) string {
	sum := sha256.Sum256(content)
	return "concord/documents/" + hex.EncodeToString(sum[:]) + "/" + DocumentFileName(kind)
}

// publishDocuments uploads the offer's consolidated custom EULA and (partner
// offers) custom reseller agreement to the document store and returns the
// change set options carrying their URLs. Documents that cannot be
// consolidated are EInvalid (or ENotFound); no store is EInvalid naming
// --documents-bucket; S3's refusals keep their code (EConflict); anything
// else is uncoded and worth retrying.
func (s *Service) publishDocuments(ctx context.Context, o Offer) ([]ChangeSetOption, error) {
	var opts []ChangeSetOption
	add := func(kind string, with func(string) ChangeSetOption) error {
		what := whatOf(kind)
		c, err := s.consolidate(ctx, o.ID, kind, true)
		if code := marketplace.ErrorCode(err); code == marketplace.EInvalid || code == marketplace.ENotFound {
			return marketplace.Errorf(code, "the custom %s cannot be published: %s", what, marketplace.ErrorMessage(err))
		} else if err != nil {
			return fmt.Errorf("consolidate the %s of offer %s: %w", what, o.ID, err)
		}
		if s.DocumentStore == nil {
			return marketplace.Errorf(marketplace.EInvalid, "the custom %s cannot be published: AWS Marketplace takes a custom %s only as a URL into an Amazon S3 bucket it can read, and Concord has none: start it with --documents-bucket (CONCORD_DOCUMENTS_BUCKET), see docs/aws-setup.md", what, what)
		}
		url, err := s.DocumentStore.Publish(ctx, DocumentKey(kind, c.content), ContentTypePDF, c.content)
		if marketplace.ErrorCode(err) != marketplace.EInternal && err != nil {
			return marketplace.Errorf(marketplace.ErrorCode(err), "the custom %s could not be uploaded: %s", what, marketplace.ErrorMessage(err))
		} else if err != nil {
			return fmt.Errorf("upload the %s of offer %s: %w", what, o.ID, err)
		}
		opts = append(opts, with(url))
		return nil
	}
	if o.EULA.Kind == "custom" {
		if err := add(KindEULA, WithEULAURL); err != nil {
			return nil, err
		}
	}
	if o.Type == TypePartner && o.ResellerAgreement != nil && o.ResellerAgreement.Kind == "custom" {
		if err := add(KindReseller, WithResellerContractURL); err != nil {
			return nil, err
		}
	}
	return opts, nil
}

// changeSetOptions gives the change set the URLs of the offer's documents
// (uploaded at submit; publishing again finds them there). Documents that
// cannot be published fail the offer with the reason; anything else is
// retried.
func (s *Service) changeSetOptions(ctx context.Context, o Offer) ([]ChangeSetOption, error) {
	opts, err := s.publishDocuments(ctx, o)
	if marketplace.ErrorCode(err) == marketplace.EInternal {
		return nil, err
	} else if err != nil {
		msg := marketplace.ErrorMessage(err)
		if ferr := s.fail(ctx, o.ID, msg); ferr != nil {
			return nil, ferr
		}
		return nil, job.Permanent(errors.New(msg))
	}
	return opts, nil
}

// refuseSubmit records why a draft's documents could not be published on the
// offer (its failure and a history step), leaving it as it was, and returns
// the reason as a coded error for the submitter.
func (s *Service) refuseSubmit(ctx context.Context, id string, cause error) error {
	if marketplace.ErrorCode(cause) == marketplace.EInternal {
		if s.Logger != nil {
			s.Logger.Error("offer documents not uploaded", "offer", id, "err", cause)
		}
		cause = marketplace.Errorf(marketplace.EConflict, "the custom documents could not be uploaded to S3 (it did not answer; the log has the details): submit again")
	}
	msg := marketplace.ErrorMessage(cause)
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		d, err := load(ctx, tx, id)
		if err != nil {
			return err
		}
		d.Offer.Failure, d.Offer.UpdatedAt = msg, s.now()
		if err := save(ctx, tx, d.Offer); err != nil {
			return err
		}
		return history(ctx, tx, id, d.UpdatedAt, d.State, "not submitted", msg)
	})
	if err != nil {
		return fmt.Errorf("record why offer %s was not submitted: %w", id, err)
	}
	return cause
}
