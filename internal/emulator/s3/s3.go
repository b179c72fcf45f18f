// Package s3 is the emulator's Amazon S3 subset: the buckets a seller keeps
// custom EULA and reseller agreement documents in. It answers PutObject,
// GetObject, HeadObject, HeadBucket and CreateBucket over S3's REST-XML
// protocol, path-style (/<bucket>/<key>) or virtual-hosted
// (<bucket>.<host>/<key>), so the official S3 client (UsePathStyle and
// BaseEndpoint) talks to it unchanged.
//
// Objects live in memory under a size cap. Writes must be SigV4-signed (an
// AWS4-HMAC-SHA256 Authorization header); as elsewhere in the emulator the
// signature itself is not verified. Reads need no signature: the buckets
// behave as the readable bucket AWS Marketplace fetches documents from.
package s3

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Defaults for Options.
const (
	// DefaultMaxObjectBytes bounds one object: well above the largest
	// consolidated contract Concord makes.
	DefaultMaxObjectBytes = 32 << 20
	// DefaultMaxTotalBytes bounds everything the emulator's S3 holds.
	DefaultMaxTotalBytes = 256 << 20
)

// Options configure a Server. The zero value is usable.
type Options struct {
	// Now stamps objects' LastModified; default time.Now.
	Now func() time.Time
	// MaxObjectBytes and MaxTotalBytes cap one object and the whole store.
	MaxObjectBytes, MaxTotalBytes int64
	// Fault, when set, is asked before each operation (PutObject, GetObject,
	// HeadObject, HeadBucket, CreateBucket) and may answer an injected error.
	Fault func(op string) *Error
}

// Object is one stored object.
type Object struct {
	Bucket, Key  string
	Content      []byte
	ContentType  string
	ETag         string // quoted hex MD5, as S3 answers for a single-part upload
	LastModified time.Time
}

// Server is an in-memory S3 subset. It implements http.Handler and is safe
// for concurrent use.
type Server struct {
	o       Options
	mu      sync.Mutex
	buckets map[string]map[string]*Object
	total   int64
}

// New returns a Server with no buckets.
func New(o Options) *Server {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxObjectBytes <= 0 {
		o.MaxObjectBytes = DefaultMaxObjectBytes
	}
	if o.MaxTotalBytes <= 0 {
		o.MaxTotalBytes = DefaultMaxTotalBytes
	}
	return &Server{o: o, buckets: map[string]map[string]*Object{}}
}

// bucketName follows S3's general purpose bucket naming rules: 3-63
// lowercase letters, digits, dots and hyphens, starting and ending with a
// letter or digit, not shaped like an IP address.
var bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// ValidBucketName reports whether name is a bucket name S3 accepts.
func ValidBucketName(name string) bool {
	return bucketName.MatchString(name) && !strings.Contains(name, "..") && net.ParseIP(name) == nil
}

// CreateBucket makes an empty bucket (in-process, for the emulator's own
// sandbox bucket and tests); an existing bucket is kept as it is.
func (s *Server) CreateBucket(name string) error {
	if !ValidBucketName(name) {
		return fmt.Errorf("s3: bucket name %q is invalid", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.buckets[name] == nil {
		s.buckets[name] = map[string]*Object{}
	}
	return nil
}

// BucketExists reports whether the bucket exists.
func (s *Server) BucketExists(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buckets[name] != nil
}

// Object returns a copy of one stored object.
func (s *Server) Object(bucket, key string) (Object, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.buckets[bucket][key]
	if o == nil {
		return Object{}, false
	}
	cp := *o
	cp.Content = append([]byte(nil), o.Content...)
	return cp, true
}

// ObjectAtURL returns the object an https S3 URL names, as a change set
// carries it (a custom EULA's Url): the emulator's Catalog uses it to check
// that a document exists when a change set applies, as AWS fetches it then.
func (s *Server) ObjectAtURL(rawURL string) (Object, bool) {
	bucket, key, ok := ParseURL(rawURL)
	if !ok {
		return Object{}, false
	}
	return s.Object(bucket, key)
}

// URL is the https URL of an object in the path-style form AWS's sample
// change sets give a custom EULA ("https://s3.amazonaws.com/<bucket>/<key>").
func URL(bucket, key string) string {
	return "https://s3.amazonaws.com/" + bucket + "/" + escapeKey(key)
}

// escapeKey percent-encodes each segment of a key, keeping its slashes.
func escapeKey(key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// ParseURL splits an S3 object URL into bucket and key. It knows the forms
// AWS documents: path-style https://s3.amazonaws.com/<bucket>/<key> (and
// s3.<region>.amazonaws.com, s3-<region>.amazonaws.com) and virtual-hosted
// https://<bucket>.s3[.<region>].amazonaws.com/<key>.
func ParseURL(rawURL string) (bucket, key string, ok bool) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", "", false
	}
	host := strings.ToLower(u.Hostname())
	rest, found := strings.CutSuffix(host, ".amazonaws.com")
	if !found {
		return "", "", false
	}
	path := strings.TrimPrefix(u.Path, "/")
	if isS3Host(rest) {
		bucket, key, _ = strings.Cut(path, "/")
	} else if i := strings.Index(rest, ".s3"); i > 0 && isS3Host(rest[i+1:]) {
		bucket, key = rest[:i], path
	} else {
		return "", "", false
	}
	if !ValidBucketName(bucket) || key == "" {
		return "", "", false
	}
	return bucket, key, true
}

// isS3Host reports whether h (a host without .amazonaws.com) is an S3
// endpoint: s3, s3.<region>, s3-<region> or s3.dualstack.<region>.
func isS3Host(h string) bool {
	if h == "s3" {
		return true
	}
	rest, ok := strings.CutPrefix(h, "s3.")
	if !ok {
		rest, ok = strings.CutPrefix(h, "s3-")
	}
	rest = strings.TrimPrefix(rest, "dualstack.")
	return ok && rest != "" && !strings.Contains(rest, ".")
}

// put stores an object, charging its size against the cap.
func (s *Server) put(bucket, key, contentType string, content []byte) (*Object, *Error) {
	if int64(len(content)) > s.o.MaxObjectBytes {
		return nil, errEntityTooLarge(s.o.MaxObjectBytes)
	}
	sum := md5.Sum(content)
	o := &Object{Bucket: bucket, Key: key, Content: content, ContentType: contentType,
		ETag: `"` + hex.EncodeToString(sum[:]) + `"`, LastModified: s.o.Now().UTC().Truncate(time.Second)}
	s.mu.Lock()
	defer s.mu.Unlock()
	objs := s.buckets[bucket]
	if objs == nil {
		return nil, errNoSuchBucket(bucket)
	}
	total := s.total + int64(len(content))
	if old := objs[key]; old != nil {
		total -= int64(len(old.Content))
	}
	if total > s.o.MaxTotalBytes {
		e := errEntityTooLarge(s.o.MaxObjectBytes)
		e.Message = fmt.Sprintf("The emulator's S3 holds at most %d bytes in all, and it is full.", s.o.MaxTotalBytes)
		return nil, e
	}
	objs[key], s.total = o, total
	return o, nil
}
