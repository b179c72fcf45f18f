package conformance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/marketplaceagreement"
	"github.com/aws/aws-sdk-go-v2/service/marketplacecatalog"
	"github.com/aws/aws-sdk-go-v2/service/marketplaceentitlementservice"
	"github.com/aws/aws-sdk-go-v2/service/marketplacemetering"
	"github.com/aws/smithy-go"
)

// suite is conformance/scenarios.json.
type suite struct {
	Clock time.Time `json:"clock"`
	Steps []step    `json:"steps"`
}

// step is one control API call or one SDK call.
type step struct {
	Name    string `json:"name"`
	Control *struct {
		Method string          `json:"method"`
		Path   string          `json:"path"`
		Body   json.RawMessage `json:"body"`
	} `json:"control"`
	// ProtocolError is the one error code the step may get that no service
	// model declares (AWS's front end answers model constraint violations
	// with ValidationException; SDKs surface it as a generic error).
	ProtocolError string          `json:"protocolError"`
	Service       string          `json:"service"`
	Op            string          `json:"op"`
	Input         json.RawMessage `json:"input"`
}

// result is what one runner saw at one step; the JavaScript and Python
// runners print the same shape.
type result struct {
	Name   string    `json:"name"`
	Output any       `json:"output,omitempty"`
	Error  *apiError `json:"error,omitempty"`
	// Unknown lists response members (and values) the SDK's service model
	// does not declare; the Go SDK keeps no model at run time, so only the
	// JavaScript and Python runners fill it.
	Unknown []string `json:"unknown,omitempty"`
	// Newer lists members boto3's model lacks because AWS added them after
	// it (conformance/python/newer-than-model.json): left out of its comparison.
	Newer []string `json:"newer,omitempty"`
}

// apiError is an error as the SDK surfaced it. Modelled says the SDK knows
// the error code (a typed error, not a generic one).
type apiError struct {
	Code     string `json:"code"`
	Message  string `json:"message"`
	Status   int    `json:"status"`
	Modelled bool   `json:"modelled"`
}

// runGo plays the suite through the AWS SDK for Go v2.
func runGo(ctx context.Context, s suite, endpoint string) ([]result, error) {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(aws.AnonymousCredentials{}), config.WithBaseEndpoint(endpoint), config.WithRetryMaxAttempts(1))
	if err != nil {
		return nil, err
	}
	clients := map[string]any{
		"metering":    marketplacemetering.NewFromConfig(cfg),
		"entitlement": marketplaceentitlementservice.NewFromConfig(cfg),
		"agreement":   marketplaceagreement.NewFromConfig(cfg),
		"catalog":     marketplacecatalog.NewFromConfig(cfg),
	}
	seen := map[string]any{}
	var out []result
	for _, st := range s.Steps {
		r := result{Name: st.Name}
		if st.Control != nil {
			body, err := resolveRaw(st.Control.Body, seen)
			if err != nil {
				return nil, fmt.Errorf("step %s: %w", st.Name, err)
			}
			v, err := control(ctx, endpoint, st.Control.Method, st.Control.Path, body)
			if err != nil {
				return nil, fmt.Errorf("step %s: %w", st.Name, err)
			}
			r.Output = v
		} else {
			client, ok := clients[st.Service]
			if !ok {
				return nil, fmt.Errorf("step %s: unknown service %q", st.Name, st.Service)
			}
			m := reflect.ValueOf(client).MethodByName(st.Op)
			if !m.IsValid() {
				return nil, fmt.Errorf("step %s: %s has no operation %s", st.Name, st.Service, st.Op)
			}
			input, err := resolveRaw(st.Input, seen)
			if err != nil {
				return nil, fmt.Errorf("step %s: %w", st.Name, err)
			}
			in := reflect.New(m.Type().In(1).Elem())
			if err := json.Unmarshal(input, in.Interface()); err != nil {
				return nil, fmt.Errorf("step %s: input: %w", st.Name, err)
			}
			res := m.Call([]reflect.Value{reflect.ValueOf(ctx), in})
			if e, _ := res[1].Interface().(error); e != nil {
				r.Error = goError(e)
			} else {
				r.Output, _ = normGo(res[0])
			}
		}
		if r.Output != nil {
			seen[st.Name] = r.Output
		}
		out = append(out, r)
	}
	return out, nil
}

// goError is the error as a Go SDK user sees it.
func goError(err error) *apiError {
	out := &apiError{Code: "(not an API error)", Message: err.Error()}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		out.Code, out.Message = ae.ErrorCode(), ae.ErrorMessage()
		var generic *smithy.GenericAPIError
		out.Modelled = !errors.As(err, &generic)
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		out.Status = re.HTTPStatusCode()
	}
	return out
}

// control calls the emulator's control API and returns its answer normalised.
func control(ctx context.Context, endpoint, method, path string, body []byte) (any, error) {
	req, err := http.NewRequestWithContext(ctx, method, endpoint+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	return normJSON(v), nil
}

var ref = regexp.MustCompile(`\$\{([^}]+)\}`)

// resolveRaw replaces ${step.path} references and {"$time": …} markers (Go
// decodes the RFC 3339 string into time.Time itself).
func resolveRaw(raw json.RawMessage, seen map[string]any) ([]byte, error) {
	if len(raw) == 0 {
		return []byte("{}"), nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	v, err := resolve(v, seen)
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

func resolve(v any, seen map[string]any) (any, error) {
	switch x := v.(type) {
	case string:
		if m := ref.FindStringSubmatch(x); m != nil && m[0] == x {
			return lookup(m[1], seen)
		}
		var err error
		s := ref.ReplaceAllStringFunc(x, func(s string) string {
			got, e := lookup(s[2:len(s)-1], seen)
			if e != nil {
				err = e
			}
			return fmt.Sprint(got)
		})
		return s, err
	case map[string]any:
		if t, ok := x["$time"]; ok && len(x) == 1 {
			return t, nil
		}
		for k, e := range x {
			r, err := resolve(e, seen)
			if err != nil {
				return nil, err
			}
			x[k] = r
		}
	case []any:
		for i, e := range x {
			r, err := resolve(e, seen)
			if err != nil {
				return nil, err
			}
			x[i] = r
		}
	}
	return v, nil
}

func lookup(path string, seen map[string]any) (any, error) {
	parts := strings.Split(path, ".")
	v, ok := seen[parts[0]]
	if !ok {
		return nil, fmt.Errorf("reference ${%s}: no answer from step %q", path, parts[0])
	}
	for _, p := range parts[1:] {
		switch x := v.(type) {
		case map[string]any:
			v, ok = x[p]
		case []any:
			i, err := strconv.Atoi(p)
			ok = err == nil && i >= 0 && i < len(x)
			if ok {
				v = x[i]
			}
		default:
			ok = false
		}
		if !ok {
			return nil, fmt.Errorf("reference ${%s}: no member %q", path, p)
		}
	}
	return v, nil
}

// lowerFirst is the normalised key: the Go SDK spells camelCase wire members
// (agreementId) with a capital (AgreementId).
func lowerFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToLower(r)) + s[n:]
}

// timeFormat is how every runner prints a timestamp.
const timeFormat = "2006-01-02T15:04:05.000Z"

// normJSON normalises a decoded JSON value the way every runner does: keys
// with a lower-case first letter, no nulls, no empty strings.
func normJSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if n := normJSON(e); n != nil {
				out[lowerFirst(k)] = n
			}
		}
		return out
	case []any:
		out := []any{}
		for _, e := range x {
			out = append(out, normJSON(e))
		}
		return out
	case string:
		if x == "" {
			return nil
		}
	}
	return v
}

type smithyDocument interface {
	UnmarshalSmithyDocument(v interface{}) error
}

var timeType = reflect.TypeOf(time.Time{})

// normGo turns a Go SDK output into the normalised JSON tree: members by
// name (first letter lower-cased), unions as {member: value}, documents as
// JSON, timestamps in timeFormat; nil, empty strings and ResultMetadata left
// out. It reports false for an absent value.
func normGo(v reflect.Value) (any, bool) {
	if !v.IsValid() {
		return nil, false
	}
	switch v.Kind() {
	case reflect.Interface:
		if v.IsNil() {
			return nil, false
		}
		if d, ok := v.Interface().(smithyDocument); ok {
			var x any
			if err := d.UnmarshalSmithyDocument(&x); err != nil {
				return "(document: " + err.Error() + ")", true
			}
			n := normJSON(x)
			return n, n != nil
		}
		e := v.Elem()
		for e.Kind() == reflect.Pointer {
			e = e.Elem()
		}
		name := e.Type().Name()
		if name == "UnknownUnionMember" {
			return map[string]any{"$unknown": e.FieldByName("Tag").String()}, true
		}
		if i := strings.Index(name, "Member"); i >= 0 && e.Kind() == reflect.Struct {
			inner, ok := normGo(e.FieldByName("Value"))
			if !ok {
				inner = map[string]any{}
			}
			return map[string]any{lowerFirst(name[i+len("Member"):]): inner}, true
		}
		return normGo(v.Elem())
	case reflect.Pointer:
		if v.IsNil() {
			return nil, false
		}
		return normGo(v.Elem())
	case reflect.Struct:
		if v.Type() == timeType {
			return v.Interface().(time.Time).UTC().Format(timeFormat), true
		}
		out := map[string]any{}
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if !f.IsExported() || f.Name == "ResultMetadata" {
				continue
			}
			if n, ok := normGo(v.Field(i)); ok {
				out[lowerFirst(f.Name)] = n
			}
		}
		return out, true
	case reflect.Slice:
		if v.IsNil() {
			return nil, false
		}
		out := []any{}
		for i := 0; i < v.Len(); i++ {
			n, ok := normGo(v.Index(i))
			if !ok {
				n = nil
			}
			out = append(out, n)
		}
		return out, true
	case reflect.Map:
		if v.IsNil() {
			return nil, false
		}
		out := map[string]any{}
		for _, k := range v.MapKeys() {
			if n, ok := normGo(v.MapIndex(k)); ok {
				out[lowerFirst(k.String())] = n
			}
		}
		return out, true
	case reflect.String:
		if v.String() == "" {
			return nil, false
		}
		return v.String(), true
	case reflect.Bool:
		return v.Bool(), true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(v.Int()), true
	case reflect.Float32, reflect.Float64:
		return v.Float(), true
	}
	return fmt.Sprintf("(unsupported %s)", v.Type()), true
}
