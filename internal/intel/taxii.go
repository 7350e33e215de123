package intel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// MediaTAXII is the media type of TAXII 2.1 requests and responses.
const MediaTAXII = "application/taxii+json;version=2.1"

// TAXIIClient reads STIX objects from a TAXII 2.1 server: discovery, API roots, collections,
// and a collection's objects page by page. Government and ISAC feeds (and MISP's and
// OpenCTI's TAXII endpoints) publish this way; a poller keeps the date of the last object
// it saw and asks only for objects added after it.
//
// A TAXIIClient is a plain struct; set it up once and use it from one goroutine at a time or
// many (it keeps no state between calls).
type TAXIIClient struct {
	// Discovery is the server's discovery URL, such as https://taxii.example/taxii2/.
	// Relative API root URLs are resolved against it.
	Discovery string
	// HTTP makes the requests; nil means a client with a 2-minute timeout.
	HTTP *http.Client
	// Username and Password, when Username is set, are sent as HTTP basic auth; Token, when
	// set, as "Authorization: Bearer". Credentials are never sent over plain http.
	Username, Password string
	Token              string
	// PageSize asks the server for at most this many objects per page (limit); 0 leaves
	// it to the server.
	PageSize int
	// MaxPages stops a poll that pages on without end (a server bug); 0 means 100000.
	MaxPages int
	// MaxResponse bounds one response body; 0 means 64 MiB.
	MaxResponse int64
}

// TAXIIDiscovery is a server's discovery resource.
type TAXIIDiscovery struct {
	Title       string   `json:"title"`
	Description string   `json:"description,omitempty"`
	Contact     string   `json:"contact,omitempty"`
	Default     string   `json:"default,omitempty"`
	APIRoots    []string `json:"api_roots"`
}

// TAXIICollection describes one collection of an API root.
type TAXIICollection struct {
	ID          string   `json:"id"`
	Title       string   `json:"title"`
	Description string   `json:"description,omitempty"`
	Alias       string   `json:"alias,omitempty"`
	CanRead     bool     `json:"can_read"`
	CanWrite    bool     `json:"can_write"`
	MediaTypes  []string `json:"media_types,omitempty"`
}

// TAXIIError is a response other than 200, with the TAXII error message the server sent
// when it sent one. Callers branch on Status (401 and 403: credentials; 404: no such
// collection).
type TAXIIError struct {
	URL         string
	Status      int
	Title       string // from the server's error message, if any
	Description string
}

func (e *TAXIIError) Error() string {
	msg := fmt.Sprintf("taxii %s: %d %s", e.URL, e.Status, http.StatusText(e.Status))
	if e.Title != "" {
		msg += ": " + e.Title
	}
	if e.Description != "" {
		msg += ": " + e.Description
	}
	return msg
}

// ErrTAXIIInsecure is returned instead of sending credentials over plain http.
var ErrTAXIIInsecure = errors.New("intel: taxii credentials over plain http refused")

// Discover reads the discovery resource.
func (c *TAXIIClient) Discover(ctx context.Context) (*TAXIIDiscovery, error) {
	var d TAXIIDiscovery
	if _, err := c.get(ctx, c.Discovery, nil, &d); err != nil {
		return nil, fmt.Errorf("discover taxii server: %w", err)
	}
	return &d, nil
}

// Collections lists the collections of an API root (an entry of TAXIIDiscovery.APIRoots).
func (c *TAXIIClient) Collections(ctx context.Context, apiRoot string) ([]TAXIICollection, error) {
	u, err := c.resolve(apiRoot, "collections/")
	if err != nil {
		return nil, err
	}
	var body struct {
		Collections []TAXIICollection `json:"collections"`
	}
	if _, err := c.get(ctx, u, nil, &body); err != nil {
		return nil, fmt.Errorf("list taxii collections: %w", err)
	}
	return body.Collections, nil
}

// Objects reads the objects of a collection added after addedAfter (zero: all of them),
// following the server's pages (next and more), and calls fn with each page's objects; an
// error from fn stops it. It returns the date the last object was added (the server's
// X-TAXII-Date-Added-Last), to pass as addedAfter at the next poll; addedAfter itself when
// nothing was new.
func (c *TAXIIClient) Objects(ctx context.Context, apiRoot, collectionID string, addedAfter time.Time, fn func([]json.RawMessage) error) (time.Time, error) {
	if collectionID == "" || strings.ContainsAny(collectionID, "/?#") {
		return addedAfter, fmt.Errorf("read taxii collection: bad collection id %q", collectionID)
	}
	u, err := c.resolve(apiRoot, "collections/"+collectionID+"/objects/")
	if err != nil {
		return addedAfter, err
	}
	maxPages := c.MaxPages
	if maxPages <= 0 {
		maxPages = 100000
	}
	last, next := addedAfter, ""
	for page := 0; ; page++ {
		if page == maxPages {
			return last, fmt.Errorf("read taxii collection %s: still more after %d pages", collectionID, maxPages)
		}
		q := url.Values{}
		if !addedAfter.IsZero() {
			q.Set("added_after", addedAfter.UTC().Format(time.RFC3339Nano))
		}
		if c.PageSize > 0 {
			q.Set("limit", strconv.Itoa(c.PageSize))
		}
		if next != "" {
			q.Set("next", next)
		}
		var env struct {
			More    bool              `json:"more"`
			Next    string            `json:"next"`
			Objects []json.RawMessage `json:"objects"`
		}
		h, err := c.get(ctx, u, q, &env)
		if err != nil {
			return last, fmt.Errorf("read taxii collection %s: %w", collectionID, err)
		}
		if d := h.Get("X-TAXII-Date-Added-Last"); d != "" && len(env.Objects) > 0 {
			t, err := time.Parse(time.RFC3339Nano, d)
			if err != nil {
				return last, fmt.Errorf("read taxii collection %s: X-TAXII-Date-Added-Last %q: %w", collectionID, d, err)
			}
			last = t
		}
		if len(env.Objects) > 0 {
			if err := fn(env.Objects); err != nil {
				return last, err
			}
		}
		switch {
		case !env.More:
			return last, nil
		case env.Next != "":
			next = env.Next
		case last.After(addedAfter):
			// A server that pages without next: ask again for what came after this page.
			addedAfter, next = last, ""
		default:
			return last, fmt.Errorf("read taxii collection %s: server says more but gives neither next nor X-TAXII-Date-Added-Last", collectionID)
		}
	}
}

// Poll reads a collection's new objects and returns their indicators and rejections (as
// STIXObjects does, with source naming the feed) and the addedAfter for the next poll.
func (c *TAXIIClient) Poll(ctx context.Context, apiRoot, collectionID, source string, addedAfter time.Time) ([]Indicator, []Rejected, time.Time, error) {
	var (
		inds []Indicator
		rej  []Rejected
	)
	last, err := c.Objects(ctx, apiRoot, collectionID, addedAfter, func(objs []json.RawMessage) error {
		i, r := STIXObjects(objs, source)
		inds, rej = append(inds, i...), append(rej, r...)
		return nil
	})
	return inds, rej, last, err
}

// resolve makes the URL of path under apiRoot, which may be relative to Discovery.
func (c *TAXIIClient) resolve(apiRoot, path string) (string, error) {
	base, err := url.Parse(c.Discovery)
	if err != nil {
		return "", fmt.Errorf("parse taxii discovery url: %w", err)
	}
	root, err := base.Parse(apiRoot)
	if err != nil {
		return "", fmt.Errorf("parse taxii api root %q: %w", apiRoot, err)
	}
	if !strings.HasSuffix(root.Path, "/") {
		root.Path += "/"
	}
	root.Path += path
	root.RawPath = ""
	return root.String(), nil
}

func (c *TAXIIClient) get(ctx context.Context, rawURL string, q url.Values, into any) (http.Header, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("parse url: %w", err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, fmt.Errorf("taxii url %q: want https", rawURL)
	}
	if u.Scheme == "http" && (c.Username != "" || c.Token != "") {
		return nil, fmt.Errorf("%w: %s", ErrTAXIIInsecure, u.Redacted())
	}
	if len(q) > 0 {
		u.RawQuery = q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", MediaTAXII)
	req.Header.Set("User-Agent", "omamori-intel")
	switch {
	case c.Token != "":
		req.Header.Set("Authorization", "Bearer "+c.Token)
	case c.Username != "":
		req.SetBasicAuth(c.Username, c.Password)
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 2 * time.Minute}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	limit := c.MaxResponse
	if limit <= 0 {
		limit = 64 << 20
	}
	body := io.LimitReader(resp.Body, limit+1)
	if resp.StatusCode != http.StatusOK {
		e := &TAXIIError{URL: u.Redacted(), Status: resp.StatusCode}
		var msg struct {
			Title       string `json:"title"`
			Description string `json:"description"`
		}
		if json.NewDecoder(io.LimitReader(body, 64<<10)).Decode(&msg) == nil {
			e.Title, e.Description = msg.Title, msg.Description
		}
		return nil, e
	}
	ct := resp.Header.Get("Content-Type")
	if mt, _, _ := strings.Cut(ct, ";"); !strings.EqualFold(strings.TrimSpace(mt), "application/taxii+json") {
		return nil, fmt.Errorf("response from %s is %q, want %s: not a TAXII 2.1 server?", u.Redacted(), ct, MediaTAXII)
	}
	data, err := io.ReadAll(body)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", u.Redacted(), err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("response from %s is larger than %d bytes", u.Redacted(), limit)
	}
	if err := json.Unmarshal(data, into); err != nil {
		return nil, fmt.Errorf("decode %s: %w", u.Redacted(), err)
	}
	return resp.Header, nil
}
