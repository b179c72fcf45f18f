package catalog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/concordmp/concord/internal/emulator/world"
)

// storedChange is one change as the world keeps it (world.ChangeSet.Changes
// is a JSON array of these).
type storedChange struct {
	ChangeType string `json:"changeType"`
	ChangeName string `json:"changeName,omitempty"`
	EntityType string `json:"entityType"`
	// Identifier is an entity ID (without revision), a
	// "$Name.Entity.Identifier" reference, or empty for create changes.
	Identifier string          `json:"identifier,omitempty"`
	Details    json.RawMessage `json:"details"`
	// AsString records that the client sent Details (a string) rather than
	// DetailsDocument.
	AsString bool `json:"detailsAsString,omitempty"`
}

// changeSetResult is what the applier records in world.ChangeSet.Result.
type changeSetResult struct {
	Changes []changeResult `json:"changes"`
}

type changeResult struct {
	// EntityID is the entity the change applied to (for creates, the new
	// entity; empty when the set did not apply).
	EntityID string        `json:"entityId,omitempty"`
	Created  bool          `json:"created,omitempty"`
	Revision int           `json:"revision,omitempty"`
	Errors   []errorDetail `json:"errors,omitempty"`
}

type errorDetail struct {
	ErrorCode    string `json:"ErrorCode"`
	ErrorMessage string `json:"ErrorMessage"`
}

// changeSpec describes one change type of one entity type.
type changeSpec struct {
	// create changes make a new entity and take no Identifier.
	create bool
	// release changes are applied after the set's other changes, so a set
	// may list them anywhere.
	release bool
	check   func(json.RawMessage) *problem
	apply   func(tx *txn, id string, raw json.RawMessage) (string, *changeError)
}

// specs are the supported change types. Each check validates the change's
// DetailsDocument against its shape (shapes.go); apply makes the change.
var specs = map[string]map[string]*changeSpec{
	EntityTypeOffer: {
		"CreateOffer":                                    {create: true, apply: applyCreateOffer},
		"CreateReplacementOffer":                         {create: true, apply: applyCreateReplacementOffer},
		"CreateOfferUsingResaleAuthorization":            {create: true, apply: applyCreateCPPO(false)},
		"CreateReplacementOfferUsingResaleAuthorization": {create: true, apply: applyCreateCPPO(true)},
		"UpdateInformation":                              {apply: applyOfferInformation},
		"UpdateTargeting":                                {apply: applyOfferTargeting},
		"UpdatePricingTerms":                             {apply: applyOfferPricing},
		"UpdateLegalTerms":                               {apply: applyOfferLegal},
		"UpdateSupportTerms":                             {apply: applyOfferSupport},
		"UpdateAvailability":                             {apply: applyOfferAvailability},
		"UpdateValidityTerms":                            {apply: applyOfferValidity},
		"UpdatePaymentScheduleTerms":                     {apply: applyOfferPaymentSchedule},
		"UpdateNetPaymentTerms":                          {apply: applyOfferNetPayment},
		"UpdateRenewalTerms":                             {apply: applyOfferRenewal},
		"UpdateMarkup":                                   {apply: applyOfferMarkup},
		"ReleaseOffer":                                   {release: true, apply: applyReleaseOffer},
	},
	EntityTypeResaleAuthorization: {
		"CreateResaleAuthorization":   {create: true, apply: applyCreateRA},
		"UpdateInformation":           {apply: applyRAInformation},
		"UpdateBuyerTargetingTerms":   {apply: applyRATerms("UpdateBuyerTargetingTerms")},
		"UpdateBuyerValidityTerms":    {apply: applyRATerms("UpdateBuyerValidityTerms")},
		"UpdateAvailability":          {apply: applyRAAvailability},
		"UpdateLegalTerms":            {apply: applyRATerms("UpdateLegalTerms")},
		"UpdatePricingTerms":          {apply: applyRAPricing},
		"UpdatePaymentScheduleTerms":  {apply: applyRATerms("UpdatePaymentScheduleTerms")},
		"ReleaseResaleAuthorization":  {release: true, apply: applyReleaseRA},
		"RestrictResaleAuthorization": {apply: applyRestrictRA},
	},
}

func init() {
	for entityType, shapes := range map[string]map[string]*shape{EntityTypeOffer: offerShapes, EntityTypeResaleAuthorization: raShapes} {
		for changeType, spec := range specs[entityType] {
			s := shapes[changeType]
			if s == nil {
				panic("catalog: no shape for " + entityType + " " + changeType)
			}
			var extra []func(json.RawMessage) *problem
			switch changeType {
			case "UpdatePricingTerms":
				extra = append(extra, uniqueTermTypes)
			case "UpdateMarkup":
				extra = append(extra, markupRange)
			}
			spec.check = checked(s, extra...)
		}
	}
}

var (
	changeTypePattern    = regexp.MustCompile(`^[A-Z][\w]{0,254}$`)
	changeNamePattern    = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_]{0,99}$`)
	changeSetNamePattern = regexp.MustCompile(`^[\w\s+=.:@-]{1,100}$`)
	tokenPattern         = regexp.MustCompile(`^[!-~]{1,64}$`)
	referencePattern     = regexp.MustCompile(`^\$([a-zA-Z][a-zA-Z0-9_]{0,99})\.Entity\.Identifier$`)
)

// refName returns the change name a "$Name.Entity.Identifier" reference names.
func refName(identifier string) string {
	if m := referencePattern.FindStringSubmatch(identifier); m != nil {
		return m[1]
	}
	return ""
}

// stripRevision turns "offer-abc@3" into "offer-abc".
func stripRevision(id string) string {
	id, _, _ = strings.Cut(id, "@")
	return id
}

func changeInvalid(i int, c *changeInput, field, reason, msg string) *apiError {
	e := errValidation(fmt.Sprintf("ChangeSet[%d]: %s", i, msg))
	fe := fieldError{Field: field, Message: msg, Reason: reason, ChangeType: str(c.ChangeType)}
	if c.Entity != nil {
		fe.EntityType, fe.EntityId = str(c.Entity.Type), str(c.Entity.Identifier)
	}
	e.Fields = []fieldError{fe}
	return e
}

// validateStart is the stateless synchronous validation of StartChangeSet.
func validateStart(in *startChangeSetInput) ([]storedChange, *apiError) {
	if err := checkCatalog(str(in.Catalog), in.Catalog != nil); err != nil {
		return nil, err
	}
	if n := len(in.ChangeSet); n < 1 || n > 20 {
		return nil, fieldValidation("ChangeSet", "ChangeSet must list 1 to 20 changes")
	}
	if in.ChangeSetName != nil && !changeSetNamePattern.MatchString(*in.ChangeSetName) {
		return nil, fieldValidation("ChangeSetName", "ChangeSetName must be 1 to 100 characters matching ^[\\w\\s+=.:@-]+$")
	}
	if in.ClientRequestToken != nil && !tokenPattern.MatchString(*in.ClientRequestToken) {
		return nil, fieldValidation("ClientRequestToken", "ClientRequestToken must be 1 to 64 printable ASCII characters")
	}
	switch str(in.Intent) {
	case "", "APPLY", "VALIDATE":
	default:
		return nil, fieldValidation("Intent", "Intent must be VALIDATE or APPLY")
	}
	for _, t := range in.ChangeSetTags {
		if t.Key == nil || len(*t.Key) < 1 || len(*t.Key) > 128 || t.Value == nil || len(*t.Value) > 256 {
			return nil, fieldValidation("ChangeSetTags", "a tag needs a Key (1-128 characters) and a Value (0-256 characters)")
		}
	}
	created := map[string]string{} // change name of a create change -> entity type
	names := map[string]bool{}
	seen := map[string]bool{}
	out := make([]storedChange, 0, len(in.ChangeSet))
	for i := range in.ChangeSet {
		c := &in.ChangeSet[i]
		if c.ChangeType == nil || !changeTypePattern.MatchString(*c.ChangeType) {
			return nil, changeInvalid(i, c, "ChangeType", "FieldValidationFailed", "ChangeType is required and must match ^[A-Z][\\w]*$")
		}
		if c.Entity == nil || c.Entity.Type == nil || *c.Entity.Type == "" {
			return nil, changeInvalid(i, c, "Entity.Type", "FieldValidationFailed", "Entity.Type is required")
		}
		typeSpecs := specs[*c.Entity.Type]
		if typeSpecs == nil {
			return nil, changeInvalid(i, c, "Entity.Type", "UnknownOperation",
				fmt.Sprintf("entity type %q is not supported: use %s or %s", *c.Entity.Type, EntityTypeOffer, EntityTypeResaleAuthorization))
		}
		spec := typeSpecs[*c.ChangeType]
		if spec == nil {
			return nil, changeInvalid(i, c, "ChangeType", "UnknownOperation",
				fmt.Sprintf("change type %s is not supported for %s", *c.ChangeType, *c.Entity.Type))
		}
		sc := storedChange{ChangeType: *c.ChangeType, EntityType: *c.Entity.Type}
		if c.ChangeName != nil {
			if !changeNamePattern.MatchString(*c.ChangeName) {
				return nil, changeInvalid(i, c, "ChangeName", "FieldValidationFailed", "ChangeName must match ^[a-zA-Z][a-zA-Z0-9_]*$ (1-100 characters)")
			}
			if names[*c.ChangeName] {
				return nil, changeInvalid(i, c, "ChangeName", "FieldValidationFailed", fmt.Sprintf("ChangeName %s is used twice", *c.ChangeName))
			}
			names[*c.ChangeName] = true
			sc.ChangeName = *c.ChangeName
		}
		doc := bytes.TrimSpace(c.DetailsDocument)
		if bytes.Equal(doc, []byte("null")) {
			doc = nil
		}
		switch {
		case c.Details != nil && doc != nil:
			return nil, changeInvalid(i, c, "Details", "FieldValidationFailed", "use Details or DetailsDocument, not both")
		case c.Details != nil:
			doc, sc.AsString = []byte(*c.Details), true
		case doc == nil:
			return nil, changeInvalid(i, c, "DetailsDocument", "FieldValidationFailed", "Details or DetailsDocument is required")
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, doc); err != nil || compact.Len() == 0 || compact.Bytes()[0] != '{' {
			return nil, changeInvalid(i, c, "Details", "CannotParse", "the details must be a JSON object")
		}
		sc.Details = compact.Bytes()
		id := str(c.Entity.Identifier)
		if spec.create {
			if id != "" {
				return nil, changeInvalid(i, c, "Entity.Identifier", "FieldValidationFailed", *c.ChangeType+" creates an entity and takes no Identifier")
			}
			if sc.ChangeName != "" {
				created[sc.ChangeName] = sc.EntityType
			}
		} else {
			switch {
			case id == "":
				return nil, changeInvalid(i, c, "Entity.Identifier", "FieldValidationFailed", "Entity.Identifier is required for "+*c.ChangeType)
			case strings.HasPrefix(id, "$"):
				name := refName(id)
				if name == "" {
					return nil, changeInvalid(i, c, "Entity.Identifier", "FieldValidationFailed", "a reference must look like $ChangeName.Entity.Identifier")
				}
				typ, ok := created[name]
				if !ok {
					return nil, changeInvalid(i, c, "Entity.Identifier", "FieldValidationFailed",
						fmt.Sprintf("%s does not name an earlier change of this change set that creates an entity", id))
				}
				if typ != sc.EntityType {
					return nil, changeInvalid(i, c, "Entity.Identifier", "FieldValidationFailed",
						fmt.Sprintf("%s creates a %s, not a %s", name, typ, sc.EntityType))
				}
			default:
				if !entityIDPattern.MatchString(id) {
					return nil, changeInvalid(i, c, "Entity.Identifier", "FieldValidationFailed", "Entity.Identifier must match ^[\\w\\-@]+$")
				}
				id = stripRevision(id)
			}
			sc.Identifier = id
			key := id + "\x00" + sc.ChangeType
			if seen[key] {
				return nil, changeInvalid(i, c, "ChangeType", "FieldValidationFailed",
					fmt.Sprintf("change type %s targets %s more than once", sc.ChangeType, id))
			}
			seen[key] = true
		}
		if p := spec.check(sc.Details); p != nil {
			e := changeInvalid(i, c, p.field, p.reason, fmt.Sprintf("%s: %s", sc.ChangeType, p.msg))
			return nil, e
		}
		out = append(out, sc)
	}
	return out, nil
}

func changeSetArn(s *world.State, id string) string {
	return fmt.Sprintf("arn:aws:aws-marketplace:%s:%s:AWSMarketplace/ChangeSet/%s", region(s), s.Config.SellerAccountID, id)
}

func region(s *world.State) string {
	if s.Config.Region != "" {
		return s.Config.Region
	}
	return "us-east-1"
}

func decodeChanges(cs *world.ChangeSet) ([]storedChange, bool) {
	var out []storedChange
	if err := json.Unmarshal(cs.Changes, &out); err != nil {
		return nil, false
	}
	return out, true
}

func decodeResult(cs *world.ChangeSet) *changeSetResult {
	if len(cs.Result) == 0 {
		return nil
	}
	var r changeSetResult
	if json.Unmarshal(cs.Result, &r) != nil {
		return nil
	}
	return &r
}

func running(cs *world.ChangeSet) bool {
	return cs.Status == StatusPreparing || cs.Status == StatusApplying
}

// promote moves PREPARING change sets past the middle of their delay to APPLYING.
func promote(s *world.State) {
	for _, cs := range s.ChangeSets {
		if cs.Status == StatusPreparing {
			mid := cs.StartTime.Add(cs.ApplyAt.Sub(cs.StartTime) / 2)
			if !s.Now().Before(mid) {
				cs.Status = StatusApplying
			}
		}
	}
}

// lockedEntities maps entities held by running APPLY change sets to the set.
func lockedEntities(s *world.State) map[string]string {
	locked := map[string]string{}
	for _, id := range world.SortedKeys(s.ChangeSets) {
		cs := s.ChangeSets[id]
		if !running(cs) || cs.Intent == "VALIDATE" {
			continue
		}
		changes, _ := decodeChanges(cs)
		for _, c := range changes {
			if c.Identifier != "" && !strings.HasPrefix(c.Identifier, "$") {
				locked[c.Identifier] = cs.ID
			}
		}
	}
	return locked
}

type startChangeSetOutput struct {
	ChangeSetId  string `json:"ChangeSetId"`
	ChangeSetArn string `json:"ChangeSetArn"`
}

func (srv *Server) startChangeSet(s *world.State, in any) (any, *apiError) {
	req := in.(*startChangeSetInput)
	changes, aerr := validateStart(req)
	if aerr != nil {
		return nil, aerr
	}
	intent := str(req.Intent)
	if intent == "" {
		intent = "APPLY"
	}
	raw, _ := json.Marshal(changes)
	name := str(req.ChangeSetName)
	if token := str(req.ClientRequestToken); token != "" {
		for _, id := range world.SortedKeys(s.ChangeSets) {
			cs := s.ChangeSets[id]
			if cs.ClientRequestToken != token {
				continue
			}
			if cs.Name != name || cs.Intent != intent || !bytes.Equal(cs.Changes, raw) {
				return nil, fieldValidation("ClientRequestToken",
					fmt.Sprintf("ClientRequestToken %s was already used by change set %s with a different request", token, cs.ID))
			}
			return startChangeSetOutput{ChangeSetId: cs.ID, ChangeSetArn: changeSetArn(s, cs.ID)}, nil
		}
	}
	for _, c := range changes {
		if c.Identifier == "" || strings.HasPrefix(c.Identifier, "$") {
			continue
		}
		switch c.EntityType {
		case EntityTypeOffer:
			if s.Offers[c.Identifier] == nil {
				return nil, errNotFound(fmt.Sprintf("The entity %s of type %s was not found.", c.Identifier, c.EntityType))
			}
		case EntityTypeResaleAuthorization:
			if s.ResaleAuthorizations[c.Identifier] == nil {
				return nil, errNotFound(fmt.Sprintf("The entity %s of type %s was not found.", c.Identifier, c.EntityType))
			}
		}
	}
	if intent == "APPLY" {
		locked := lockedEntities(s)
		for _, c := range changes {
			if by, ok := locked[c.Identifier]; ok {
				return nil, errInUse(fmt.Sprintf("The entity %s is in use by change set %s, which has not finished yet.", c.Identifier, by))
			}
		}
	}
	now := s.Now()
	cs := &world.ChangeSet{ID: world.NewID("", 25), Name: name, Intent: intent, Status: StatusPreparing, StartTime: now,
		ApplyAt: now.Add(s.Config.ChangeSetDelay), ClientRequestToken: str(req.ClientRequestToken), Changes: raw}
	for s.ChangeSets[cs.ID] != nil {
		cs.ID = world.NewID("", 25)
	}
	s.ChangeSets[cs.ID] = cs
	return startChangeSetOutput{ChangeSetId: cs.ID, ChangeSetArn: changeSetArn(s, cs.ID)}, nil
}

type entityOutput struct {
	Type       string `json:"Type"`
	Identifier string `json:"Identifier,omitempty"`
}

type changeSummary struct {
	ChangeType      string          `json:"ChangeType"`
	Entity          entityOutput    `json:"Entity"`
	Details         string          `json:"Details"`
	DetailsDocument json.RawMessage `json:"DetailsDocument"`
	ErrorDetailList []errorDetail   `json:"ErrorDetailList"`
	ChangeName      string          `json:"ChangeName,omitempty"`
}

type describeChangeSetOutput struct {
	ChangeSetId        string          `json:"ChangeSetId"`
	ChangeSetArn       string          `json:"ChangeSetArn"`
	ChangeSetName      string          `json:"ChangeSetName,omitempty"`
	Intent             string          `json:"Intent"`
	StartTime          string          `json:"StartTime"`
	EndTime            *string         `json:"EndTime,omitempty"`
	Status             string          `json:"Status"`
	FailureCode        string          `json:"FailureCode,omitempty"`
	FailureDescription string          `json:"FailureDescription,omitempty"`
	ChangeSet          []changeSummary `json:"ChangeSet"`
}

func (srv *Server) findChangeSet(s *world.State, id string) (*world.ChangeSet, *apiError) {
	cs := s.ChangeSets[id]
	if cs == nil {
		return nil, errNotFound(fmt.Sprintf("The change set %s was not found.", id))
	}
	return cs, nil
}

func (srv *Server) describeChangeSet(s *world.State, in any) (any, *apiError) {
	cs, aerr := srv.findChangeSet(s, in.(*changeSetQuery).ChangeSetID)
	if aerr != nil {
		return nil, aerr
	}
	changes, ok := decodeChanges(cs)
	if !ok {
		return nil, errNotFound(fmt.Sprintf("The change set %s was not found.", cs.ID))
	}
	res := decodeResult(cs)
	out := describeChangeSetOutput{ChangeSetId: cs.ID, ChangeSetArn: changeSetArn(s, cs.ID), ChangeSetName: cs.Name, Intent: cs.Intent,
		StartTime: isoTime(cs.StartTime), EndTime: isoPtr(cs.EndTime), Status: cs.Status, FailureCode: cs.FailureCode,
		FailureDescription: cs.FailureDescription, ChangeSet: make([]changeSummary, len(changes))}
	for i, c := range changes {
		sum := changeSummary{ChangeType: c.ChangeType, ChangeName: c.ChangeName, Entity: entityOutput{Type: c.EntityType, Identifier: c.Identifier},
			Details: string(c.Details), DetailsDocument: c.Details, ErrorDetailList: []errorDetail{}}
		if res != nil && i < len(res.Changes) {
			r := res.Changes[i]
			if r.Errors != nil {
				sum.ErrorDetailList = r.Errors
			}
			if cs.Status == StatusSucceeded && r.EntityID != "" && r.Revision > 0 {
				sum.Entity.Identifier = fmt.Sprintf("%s@%d", r.EntityID, r.Revision)
			}
		}
		out.ChangeSet[i] = sum
	}
	return out, nil
}

type changeSetSummary struct {
	ChangeSetId   string   `json:"ChangeSetId"`
	ChangeSetArn  string   `json:"ChangeSetArn"`
	ChangeSetName string   `json:"ChangeSetName,omitempty"`
	StartTime     string   `json:"StartTime"`
	EndTime       *string  `json:"EndTime,omitempty"`
	Status        string   `json:"Status"`
	EntityIdList  []string `json:"EntityIdList"`
	FailureCode   string   `json:"FailureCode,omitempty"`
}

type listChangeSetsOutput struct {
	ChangeSetSummaryList []changeSetSummary `json:"ChangeSetSummaryList"`
	NextToken            *string            `json:"NextToken,omitempty"`
}

// entityIDs lists the entities a change set is about: the applied entities
// once it applied, else the existing entities it names.
func entityIDs(cs *world.ChangeSet) []string {
	var ids []string
	add := func(id string) {
		if id != "" && !strings.HasPrefix(id, "$") && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	changes, _ := decodeChanges(cs)
	if res := decodeResult(cs); res != nil && cs.Status == StatusSucceeded && cs.Intent == "APPLY" {
		for _, r := range res.Changes {
			add(r.EntityID)
		}
	}
	for _, c := range changes {
		add(c.Identifier)
	}
	return ids
}

var changeSetFilters = []string{"ChangeSetName", "Status", "EntityId", "BeforeStartTime", "AfterStartTime", "BeforeEndTime", "AfterEndTime"}

func (srv *Server) listChangeSets(s *world.State, in any) (any, *apiError) {
	req := in.(*listChangeSetsInput)
	if err := checkCatalog(str(req.Catalog), req.Catalog != nil); err != nil {
		return nil, err
	}
	size, aerr := pageSize(req.MaxResults, 20, 98, "MaxResults")
	if aerr != nil {
		return nil, aerr
	}
	desc, by, aerr := sortOrder(req.Sort)
	if aerr != nil {
		return nil, aerr
	}
	switch by {
	case "":
		by = "StartTime"
	case "StartTime", "EndTime", "ChangeSetId", "ChangeSetName", "Status":
	default:
		return nil, fieldValidation("SortBy", "SortBy must be StartTime or EndTime")
	}
	type timeFilter struct {
		before bool
		end    bool
		at     time.Time
	}
	var names, statuses, entities []string
	var times []timeFilter
	if len(req.FilterList) > 8 {
		return nil, fieldValidation("FilterList", "FilterList takes at most 8 filters")
	}
	for _, f := range req.FilterList {
		name := str(f.Name)
		if !slices.Contains(changeSetFilters, name) {
			return nil, fieldValidation("FilterList", fmt.Sprintf("filter %q is not one of %s", name, strings.Join(changeSetFilters, ", ")))
		}
		if len(f.ValueList) == 0 || len(f.ValueList) > 10 {
			return nil, fieldValidation("FilterList", fmt.Sprintf("filter %s needs 1 to 10 values", name))
		}
		switch name {
		case "ChangeSetName":
			names = append(names, f.ValueList...)
		case "Status":
			for _, v := range f.ValueList {
				if !slices.Contains([]string{StatusPreparing, StatusApplying, StatusSucceeded, StatusCancelled, StatusFailed}, v) {
					return nil, fieldValidation("FilterList", fmt.Sprintf("%q is not a change set status", v))
				}
			}
			statuses = append(statuses, f.ValueList...)
		case "EntityId":
			for _, v := range f.ValueList {
				entities = append(entities, stripRevision(v))
			}
		default:
			t, ok := parseTime(f.ValueList[0])
			if !ok {
				return nil, fieldValidation("FilterList", fmt.Sprintf("filter %s needs an ISO 8601 time, not %q", name, f.ValueList[0]))
			}
			times = append(times, timeFilter{before: strings.HasPrefix(name, "Before"), end: strings.HasSuffix(name, "EndTime"), at: t})
		}
	}
	var list []*world.ChangeSet
	for _, id := range world.SortedKeys(s.ChangeSets) {
		cs := s.ChangeSets[id]
		if len(names) > 0 && !slices.Contains(names, cs.Name) {
			continue
		}
		if len(statuses) > 0 && !slices.Contains(statuses, cs.Status) {
			continue
		}
		if len(entities) > 0 && !slices.ContainsFunc(entityIDs(cs), func(id string) bool { return slices.Contains(entities, id) }) {
			continue
		}
		ok := true
		for _, tf := range times {
			t := cs.StartTime
			if tf.end {
				if cs.EndTime == nil {
					ok = false
					break
				}
				t = *cs.EndTime
			}
			if (tf.before && !t.Before(tf.at)) || (!tf.before && !t.After(tf.at)) {
				ok = false
				break
			}
		}
		if ok {
			list = append(list, cs)
		}
	}
	key := func(cs *world.ChangeSet) string {
		switch by {
		case "EndTime":
			if cs.EndTime == nil {
				return ""
			}
			return cs.EndTime.UTC().Format(time.RFC3339Nano)
		case "ChangeSetName":
			return cs.Name
		case "Status":
			return cs.Status
		case "ChangeSetId":
			return cs.ID
		}
		return cs.StartTime.UTC().Format(time.RFC3339Nano)
	}
	sort.SliceStable(list, func(i, j int) bool {
		ki, kj := key(list[i]), key(list[j])
		if ki == kj {
			ki, kj = list[i].ID, list[j].ID
		}
		if desc {
			return ki > kj
		}
		return ki < kj
	})
	q := queryHash("ListChangeSets", req.FilterList, by, desc)
	offset, aerr := decodeToken(req.NextToken, q)
	if aerr != nil {
		return nil, aerr
	}
	out := listChangeSetsOutput{ChangeSetSummaryList: []changeSetSummary{}}
	for i := offset; i < len(list) && i < offset+size; i++ {
		cs := list[i]
		ids := entityIDs(cs)
		if ids == nil {
			ids = []string{}
		}
		out.ChangeSetSummaryList = append(out.ChangeSetSummaryList, changeSetSummary{ChangeSetId: cs.ID, ChangeSetArn: changeSetArn(s, cs.ID),
			ChangeSetName: cs.Name, StartTime: isoTime(cs.StartTime), EndTime: isoPtr(cs.EndTime), Status: cs.Status, EntityIdList: ids,
			FailureCode: cs.FailureCode})
	}
	if offset+size < len(list) {
		out.NextToken = encodeToken(offset+size, q)
	}
	return out, nil
}

func (srv *Server) cancelChangeSet(s *world.State, in any) (any, *apiError) {
	cs, aerr := srv.findChangeSet(s, in.(*changeSetQuery).ChangeSetID)
	if aerr != nil {
		return nil, aerr
	}
	switch cs.Status {
	case StatusPreparing:
	case StatusApplying:
		return nil, errInUse(fmt.Sprintf("The change set %s is APPLYING and can no longer be cancelled.", cs.ID))
	default:
		return nil, errInUse(fmt.Sprintf("The change set %s is %s and cannot be cancelled.", cs.ID, cs.Status))
	}
	now := s.Now()
	cs.Status, cs.EndTime = StatusCancelled, &now
	emitChangeSetEvent(s, cs)
	return startChangeSetOutput{ChangeSetId: cs.ID, ChangeSetArn: changeSetArn(s, cs.ID)}, nil
}
