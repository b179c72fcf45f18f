package emulator

import (
	"bytes"
	"encoding/json"
	"io"
	"time"

	"github.com/concordmp/concord/internal/emulator/world"
)

// WorldFile is a starting state a person writes by hand (`concord emulator
// --world FILE`, PUT /control/world): products, buyers, offers and the
// agreements buyers accepted, so an ISV's test suite begins from a known
// marketplace. Each entry takes the members of the control API call that
// makes it (docs/emulator.md, "World files"); offers and resale
// authorizations get a local "ref" that later entries name, because the
// emulator makes up their ids.
type WorldFile struct {
	Products             []worldProduct  `json:"products"`
	Buyers               []string        `json:"buyers"`
	Offers               []worldOffer    `json:"offers"`
	ResaleAuthorizations []worldResale   `json:"resaleAuthorizations"`
	PartnerOffers        []worldOffer    `json:"partnerOffers"`
	Agreements           []worldAccepted `json:"agreements"`
}

type worldProduct struct {
	ProductID            string            `json:"productId"`
	ProductCode          string            `json:"productCode"`
	Title                string            `json:"title"`
	Type                 string            `json:"type"`
	ConcurrentAgreements *bool             `json:"concurrentAgreements"`
	Dimensions           []world.Dimension `json:"dimensions"`
}

type worldOffer struct {
	Ref string `json:"ref"`
	// ResaleAuthorization is the ref of the resale authorization a partner
	// offer is made from (partnerOffers only).
	ResaleAuthorization string `json:"resaleAuthorization"`
	offerInput
}

type worldResale struct {
	Ref               string `json:"ref"`
	ProductID         string `json:"productId"`
	ResellerAccountID string `json:"resellerAccountId"`
	Name              string `json:"name"`
}

type worldAccepted struct {
	Buyer string `json:"buyer"`
	// Offer is the ref of an offer or partner offer of this file; without it
	// the buyer accepts ProductID's public offer.
	Offer      string           `json:"offer"`
	ProductID  string           `json:"productId"`
	Quantities map[string]int64 `json:"quantities"`
	StartDate  *time.Time       `json:"startDate"`
}

// ParseWorldFile decodes a world file strictly: an unknown member, a wrong
// type or trailing data is an error, so a typo does not load silently as a
// smaller world.
func ParseWorldFile(b []byte) (*WorldFile, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f WorldFile
	if err := dec.Decode(&f); err != nil {
		return nil, world.Errorf(world.CodeValidation, "not a world file: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, world.Errorf(world.CodeValidation, "not a world file: data after the JSON object")
	}
	return &f, nil
}

// LoadWorld replaces the emulator's marketplace with the one a world file
// describes. It builds the whole world aside first, with the same rules as
// the control API, and replaces the state only when every entry applied (as
// PUT /control/state): a bad file is an error naming the entry, and the
// world is unchanged. The messages the entries would have sent (Purchase
// Agreement Created, License Updated) are in the event log but not
// delivered: the file is the state before the test begins.
func (e *Emulator) LoadWorld(b []byte) error {
	f, err := ParseWorldFile(b)
	if err != nil {
		return err
	}
	var cfg world.Config
	var offset time.Duration
	if err := e.World.Read(func(s *world.State) error { cfg, offset = s.Config, s.ClockOffset; return nil }); err != nil {
		return err
	}
	scratch := world.New(cfg)
	scratch.SetClock(func() time.Time { return e.World.Now().Add(-offset) })
	// The offset first, so the entries are stamped with the emulator's time.
	if err := scratch.Do(func(s *world.State) error { s.ClockOffset = offset; return nil }); err != nil {
		return err
	}
	if err := scratch.Do(f.apply); err != nil {
		return err
	}
	snap, err := scratch.Snapshot()
	if err != nil {
		return err
	}
	return e.World.Restore(snap)
}

func (f *WorldFile) apply(s *world.State) error {
	for i, p := range f.Products {
		ca := p.ConcurrentAgreements == nil || *p.ConcurrentAgreements
		if _, err := s.CreateProduct(world.Product{ProductID: p.ProductID, ProductCode: p.ProductCode, Title: p.Title, Type: p.Type,
			ConcurrentAgreements: ca, Dimensions: p.Dimensions}); err != nil {
			return entryError("products", i, err)
		}
	}
	for i, b := range f.Buyers {
		if b == "" {
			return entryError("buyers", i, world.Errorf(world.CodeValidation, "a buyer is its AWS account id"))
		}
		if _, err := s.CreateBuyer(b); err != nil {
			return entryError("buyers", i, err)
		}
	}
	refs := map[string]string{} // ref -> offer or resale authorization id
	name := func(section string, i int, ref string) error {
		if ref == "" {
			return nil
		}
		if _, dup := refs[ref]; dup {
			return entryError(section, i, world.Errorf(world.CodeValidation, "ref %q is used twice", ref))
		}
		return nil
	}
	for i, o := range f.Offers {
		if err := name("offers", i, o.Ref); err != nil {
			return err
		}
		if o.ResaleAuthorization != "" {
			return entryError("offers", i, world.Errorf(world.CodeValidation, "resaleAuthorization belongs to partnerOffers"))
		}
		in, err := o.offer()
		if err != nil {
			return entryError("offers", i, err)
		}
		made, err := s.CreatePrivateOffer(in)
		if err != nil {
			return entryError("offers", i, err)
		}
		if o.Ref != "" {
			refs[o.Ref] = made.OfferID
		}
	}
	for i, r := range f.ResaleAuthorizations {
		if err := name("resaleAuthorizations", i, r.Ref); err != nil {
			return err
		}
		made, err := s.CreateResaleAuthorization(r.ProductID, r.ResellerAccountID, r.Name)
		if err != nil {
			return entryError("resaleAuthorizations", i, err)
		}
		if r.Ref != "" {
			refs[r.Ref] = made.ID
		}
	}
	for i, o := range f.PartnerOffers {
		if err := name("partnerOffers", i, o.Ref); err != nil {
			return err
		}
		ra, ok := refs[o.ResaleAuthorization]
		if !ok {
			return entryError("partnerOffers", i, world.Errorf(world.CodeValidation, "resaleAuthorization %q is not the ref of a resale authorization of this file", o.ResaleAuthorization))
		}
		if o.ProductID != "" {
			return entryError("partnerOffers", i, world.Errorf(world.CodeValidation, "a partner offer is for its resale authorization's product: leave productId out"))
		}
		in, err := o.offer()
		if err != nil {
			return entryError("partnerOffers", i, err)
		}
		made, err := s.CreatePartnerOffer(ra, in)
		if err != nil {
			return entryError("partnerOffers", i, err)
		}
		if o.Ref != "" {
			refs[o.Ref] = made.OfferID
		}
	}
	for i, a := range f.Agreements {
		offerID := ""
		switch {
		case a.Offer != "" && a.ProductID != "":
			return entryError("agreements", i, world.Errorf(world.CodeValidation, "give offer or productId, not both"))
		case a.Offer != "":
			id, ok := refs[a.Offer]
			if !ok || s.Offers[id] == nil {
				return entryError("agreements", i, world.Errorf(world.CodeValidation, "offer %q is not the ref of an offer of this file", a.Offer))
			}
			offerID = id
		default:
			p := s.Products[a.ProductID]
			if p == nil {
				return entryError("agreements", i, world.Errorf(world.CodeValidation, "give offer (a ref), or productId to accept the product's public offer"))
			}
			offerID = p.PublicOfferID
		}
		if _, err := s.CreateBuyer(a.Buyer); err != nil {
			return entryError("agreements", i, err)
		}
		if _, err := s.Accept(a.Buyer, offerID, world.AcceptOptions{Quantities: a.Quantities, StartDate: a.StartDate}); err != nil {
			return entryError("agreements", i, err)
		}
	}
	return nil
}

// entryError names the entry that failed, keeping the world error's code
// (and so the control API's status).
func entryError(section string, i int, err error) error {
	code, msg := world.CodeOf(err), err.Error()
	if e, ok := err.(*world.Error); ok {
		msg = e.Message
	}
	if code == "" {
		code = world.CodeValidation
	}
	return world.Errorf(code, "world file %s[%d]: %s", section, i, msg)
}
