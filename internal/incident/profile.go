package incident

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/omamori-project/omamori/internal/config"
	"github.com/omamori-project/omamori/internal/store"
)

// Hospital is the hospital's profile: who reports, as every draft names them. The
// configuration gives each tenant's first one (Config.Hospital, from incidents.hospitals); the
// tenant's administrator keeps it up to date on the settings page, and what they save is kept
// in the store. It is the configuration's type, so that the file's profile is the draft's
// without a copy; its Tenant is the configuration's key and is not kept with a saved profile.
type Hospital = config.Hospital

// maxProfileField bounds each field of a profile: a name or an address, not a document.
const maxProfileField = 200

// ProfileField is one field of a Hospital, named as in JSON, for the forms that edit it.
type ProfileField struct {
	Name  string
	Value *string
}

// ProfileFields returns h's fields in the order the drafts and the settings page list them.
func ProfileFields(h *Hospital) []ProfileField {
	return []ProfileField{{"name", &h.Name}, {"address", &h.Address}, {"phone", &h.Phone}, {"administrator", &h.Administrator},
		{"security_manager", &h.SecurityManager}, {"security_contact", &h.SecurityContact}, {"reporter", &h.Reporter},
		{"reporter_phone", &h.ReporterPhone}, {"reporter_email", &h.ReporterEmail}}
}

// profileComplete reports whether every field of the profile is filled in.
func profileComplete(h *Hospital) bool {
	for _, f := range ProfileFields(h) {
		if *f.Value == "" {
			return false
		}
	}
	return true
}

// Profile returns tenant's hospital profile: the one its administrator saved, or else the
// configured one, or else an empty one (which the drafts show as （未設定）).
func (s *Service) Profile(ctx context.Context, tenant string) (Hospital, error) {
	d, err := s.st.Tenant(tenant).Document(ctx, store.DocHospitalProfile)
	if errors.Is(err, store.ErrNotFound) {
		return s.cfg.Hospital[tenant], nil
	}
	if err != nil {
		return Hospital{}, fmt.Errorf("hospital profile: %w", err)
	}
	var h Hospital
	if err := json.Unmarshal(d.Body, &h); err != nil {
		return Hospital{}, fmt.Errorf("hospital profile of %s: %w", tenant, err)
	}
	return h, nil
}

// SaveProfile keeps h as tenant's hospital profile, recording actor in the audit log, and
// returns it as kept. Fields are trimmed; one longer than 200 characters, or with a line
// break, is refused (an *InputError naming the field as ProfileFields does).
func (s *Service) SaveProfile(ctx context.Context, tenant, actor string, h Hospital) (Hospital, error) {
	for _, f := range ProfileFields(&h) {
		*f.Value = strings.TrimSpace(*f.Value)
		switch {
		case utf8.RuneCountInString(*f.Value) > maxProfileField:
			return Hospital{}, refuse("%s is longer than %d characters", f.Name, maxProfileField)
		case strings.ContainsAny(*f.Value, "\r\n") || !utf8.ValidString(*f.Value):
			return Hospital{}, refuse("%s must be one line of text", f.Name)
		}
	}
	body, _ := json.Marshal(h) // plain struct: cannot fail
	if err := s.st.Tenant(tenant).PutDocument(ctx, actor, store.DocHospitalProfile, body, h.Name); err != nil {
		return Hospital{}, fmt.Errorf("save hospital profile: %w", err)
	}
	return h, nil
}
