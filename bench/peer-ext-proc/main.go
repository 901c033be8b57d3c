// The peer of the ext-proc benchmark: the JWE envelope of ext-proc/ written in Go,
// what a user would run instead of ours. Go standard crypto only (crypto/rsa
// DecryptOAEP SHA-256, crypto/aes + cipher.NewGCM, crypto/hkdf), encoding/json,
// grpc-go and go-control-plane's protos, the same four phases (request headers
// SEND, request body BUFFERED, response headers SEND, response body BUFFERED).
//
// It reads the same identity directory as ext-proc (rsa.key.pem, PKCS#8 PEM, from
// platforms/transport/app-identity-files.ts) and derives the same session ticket
// key, so one envelope or session ticket works against either server:
//
//	ticket key  = HKDF-SHA256(ikm = PKCS#8 DER of the RSA key, salt "aenv-ext-proc", info "session-ticket-key/v1", 32)
//	ticket      = <r>.<base64url(iv || AES-256-GCM(ticket key, {1, enc, expiry ms u64be, key}, AAD = r) || tag)>
//	session key = HKDF-SHA256(ikm = CEK, salt "", info "aenv-jwe-session/v1:" || r, |enc key|)
//
// Requests: flattened, general or compact JWE with alg RSA-OAEP-256 (the app's RSA
// key) or dir (kid = session ticket), enc A128GCM/A192GCM/A256GCM, GCM AAD =
// ASCII(protected) [|| "." || aad]; ECDH-ES is not implemented (400
// UNSUPPORTED_ALG). Responses: RFC 7516 form exactly as
// ext-proc/core/response-encrypt.ts writes it. Failures: an immediate 400/401/413
// with {code, message} and nothing reaches the app. Sessions are created for
// `x-aenv-jwe-session: new` as ext-proc does; unlike ext-proc it does not count
// uses per session (maxUses): the expiry sealed in the ticket is the bound. Plain
// requests pass (ext-proc's `plain: allow`). Trustflow compat is not implemented.
//
// Like the floor (bench/reference-ext-proc), every stream is read until Envoy
// half-closes it: a handler that returns earlier makes grpc-go reset the stream.
// Tooling only (bench/ext-proc-envelope.ts builds and runs it); not part of the product.
package main

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	procmode "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extproc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc"
)

const (
	sessionHeader        = "x-aenv-jwe-session"
	sessionExpiresHeader = "x-aenv-jwe-session-expires"
	sessionKdfInfo       = "aenv-jwe-session/v1:"
	ticketVersion        = 1
)

// contentEncs in ext-proc's order (config.ts CONTENT_ENCS): the ticket stores the index.
var contentEncs = []string{"A128GCM", "A192GCM", "A256GCM"}
var encKeyBytes = map[string]int{"A128GCM": 16, "A192GCM": 24, "A256GCM": 32}
var supportedAlgs = []string{"RSA-OAEP-256", "dir"}

var b64 = base64.RawURLEncoding

// ---- errors (ext-proc/errors.ts) ----

type envelopeError struct {
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details,omitempty"`
}

func (e *envelopeError) Error() string { return e.Code + ": " + e.Message }

func fail(code, message string) *envelopeError { return &envelopeError{Code: code, Message: message} }

func (e *envelopeError) httpStatus() typev3.StatusCode {
	switch e.Code {
	case "SESSION_UNKNOWN":
		return typev3.StatusCode_Unauthorized
	case "BODY_TOO_LARGE":
		return typev3.StatusCode_PayloadTooLarge
	case "RESPONSE_ENCRYPT_FAILED":
		return typev3.StatusCode_InternalServerError
	}
	return typev3.StatusCode_BadRequest
}

func decryptFailed() *envelopeError { return fail("DECRYPT_FAILED", "envelope could not be decrypted") }

// ---- identity and session tickets ----

type identity struct {
	rsa    *rsa.PrivateKey
	rsaKid string
	ticket cipher.AEAD
	ttl    time.Duration
}

// loadIdentity reads <dir>/rsa.key.pem (PKCS#8 PEM as ext-proc writes it; PKCS#1
// is accepted too) and derives the kid (first 16 chars of base64url(SHA-256(SPKI)))
// and the ticket key from the PKCS#8 DER.
func loadIdentity(dir string, ttl time.Duration) (*identity, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "rsa.key.pem"))
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, errors.New("rsa.key.pem holds no PEM block")
	}
	var key *rsa.PrivateKey
	var pkcs8 []byte
	switch block.Type {
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		var ok bool
		if key, ok = k.(*rsa.PrivateKey); !ok {
			return nil, errors.New("rsa.key.pem is not an RSA key")
		}
		pkcs8 = block.Bytes
	case "RSA PRIVATE KEY":
		if key, err = x509.ParsePKCS1PrivateKey(block.Bytes); err != nil {
			return nil, err
		}
		if pkcs8, err = x509.MarshalPKCS8PrivateKey(key); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("rsa.key.pem: unexpected PEM type %q", block.Type)
	}
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256(spki)
	ticketKey, err := hkdf.Key(sha256.New, pkcs8, []byte("aenv-ext-proc"), "session-ticket-key/v1", 32)
	if err != nil {
		return nil, err
	}
	ticket, err := newGCM(ticketKey)
	if err != nil {
		return nil, err
	}
	clear(ticketKey)
	return &identity{rsa: key, rsaKid: b64.EncodeToString(digest[:])[:16], ticket: ticket, ttl: ttl}, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

type session struct {
	key       []byte
	enc       string
	expiresAt int64 // ms since epoch
}

// openTicket returns the session of a ticket; nil when forged, damaged, foreign or expired.
func (id *identity) openTicket(ticket string) *session {
	if strings.IndexByte(ticket, '.') != 22 {
		return nil
	}
	r := ticket[:22]
	sealed, err := b64.DecodeString(ticket[23:])
	if err != nil || len(sealed) < 12+10+16+16 || len(sealed) > 12+10+32+16 {
		return nil
	}
	body, err := id.ticket.Open(nil, sealed[:12], sealed[12:], []byte(r))
	if err != nil || body[0] != ticketVersion || int(body[1]) >= len(contentEncs) {
		return nil
	}
	enc := contentEncs[body[1]]
	if len(body) != 10+encKeyBytes[enc] {
		return nil
	}
	expiresAt := binary.BigEndian.Uint64(body[2:10])
	if expiresAt > math.MaxInt64 || time.Now().UnixMilli() >= int64(expiresAt) {
		return nil
	}
	return &session{key: body[10:], enc: enc, expiresAt: int64(expiresAt)}
}

// createSession seals a new ticket for the CEK of an exchange (session-table.ts create).
func (id *identity) createSession(cek []byte, enc string) (ticket string, expiresAt int64, err error) {
	var rnd [16]byte
	if _, err = rand.Read(rnd[:]); err != nil {
		return "", 0, err
	}
	r := b64.EncodeToString(rnd[:])
	key, err := hkdf.Key(sha256.New, cek, nil, sessionKdfInfo+r, encKeyBytes[enc])
	if err != nil {
		return "", 0, err
	}
	expiresAt = time.Now().Add(id.ttl).UnixMilli()
	body := make([]byte, 10+len(key))
	body[0] = ticketVersion
	for i, e := range contentEncs {
		if e == enc {
			body[1] = byte(i)
		}
	}
	binary.BigEndian.PutUint64(body[2:10], uint64(expiresAt))
	copy(body[10:], key)
	sealed := make([]byte, 12, 12+len(body)+16)
	if _, err = rand.Read(sealed); err != nil {
		return "", 0, err
	}
	sealed = id.ticket.Seal(sealed, sealed[:12], body, []byte(r))
	clear(body)
	clear(key)
	return r + "." + b64.EncodeToString(sealed), expiresAt, nil
}

// ---- JWE parsing (ext-proc/core/jwe-envelope.ts) ----

type recipient struct {
	header       map[string]any
	encryptedKey []byte
}

type parsedJwe struct {
	compact      bool
	protectedB64 string
	protected    map[string]any
	unprotected  map[string]any
	recipients   []recipient
	iv, ct, tag  []byte
	aadB64       *string
}

// b64uDecode is strict base64url without padding. Go's decoder skips \r and \n;
// the length check refuses them as ext-proc does.
func b64uDecode(v any, what string) ([]byte, *envelopeError) {
	s, ok := v.(string)
	if !ok || len(s)%4 == 1 {
		return nil, fail("MALFORMED_ENVELOPE", what+" is not base64url")
	}
	b, err := b64.DecodeString(s)
	if err != nil || len(b) != len(s)*3/4 {
		return nil, fail("MALFORMED_ENVELOPE", what+" is not base64url")
	}
	return b, nil
}

func parseHeader(p string) (map[string]any, *envelopeError) {
	raw, e := b64uDecode(p, "protected")
	if e != nil {
		return nil, e
	}
	var h any
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, fail("MALFORMED_ENVELOPE", "protected header is not JSON")
	}
	m, ok := h.(map[string]any)
	if !ok {
		return nil, fail("MALFORMED_ENVELOPE", "protected header is not a JSON object")
	}
	return m, nil
}

func objectOrNil(v any, what string) (map[string]any, *envelopeError) {
	if v == nil {
		return map[string]any{}, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fail("MALFORMED_ENVELOPE", what+" must be an object")
	}
	return m, nil
}

// jweJSON holds the members as `any`, so that each one's type is checked here as
// ext-proc checks it (a string where an object belongs is MALFORMED_ENVELOPE).
// encoding/json matches member names case-insensitively; ext-proc does not.
type jweJSON struct {
	Protected    any `json:"protected"`
	Unprotected  any `json:"unprotected"`
	Header       any `json:"header"`
	EncryptedKey any `json:"encrypted_key"`
	Recipients   any `json:"recipients"`
	IV           any `json:"iv"`
	Ciphertext   any `json:"ciphertext"`
	Tag          any `json:"tag"`
	AAD          any `json:"aad"`
}

// hasJweShape: Trustflow detects envelopes by body shape (sniffed content types).
func (v *jweJSON) hasJweShape() bool {
	_, ct := v.Ciphertext.(string)
	_, p := v.Protected.(string)
	_, rs := v.Recipients.([]any)
	_, ek := v.EncryptedKey.(string)
	return ct && (p || rs || ek)
}

func parseJSONJwe(v *jweJSON) (*parsedJwe, *envelopeError) {
	j := &parsedJwe{}
	var e *envelopeError
	if v.Protected != nil {
		p, ok := v.Protected.(string)
		if !ok {
			return nil, fail("MALFORMED_ENVELOPE", "protected must be a string")
		}
		j.protectedB64 = p
	}
	if j.unprotected, e = objectOrNil(v.Unprotected, "unprotected"); e != nil {
		return nil, e
	}
	if v.AAD != nil {
		a, ok := v.AAD.(string)
		if !ok {
			return nil, fail("MALFORMED_ENVELOPE", "aad must be a string")
		}
		j.aadB64 = &a
	}
	if v.Recipients != nil {
		rs, ok := v.Recipients.([]any)
		if !ok || len(rs) == 0 || len(rs) > 16 {
			return nil, fail("MALFORMED_ENVELOPE", "recipients must be a non-empty array (at most 16)")
		}
		if v.EncryptedKey != nil || v.Header != nil {
			return nil, fail("MALFORMED_ENVELOPE", "general JWE must not carry top-level encrypted_key/header")
		}
		for i, r := range rs {
			what := fmt.Sprintf("recipients[%d]", i)
			ro, ok := r.(map[string]any)
			if !ok {
				return nil, fail("MALFORMED_ENVELOPE", what+" must be an object")
			}
			rec := recipient{}
			if rec.header, e = objectOrNil(ro["header"], what+".header"); e != nil {
				return nil, e
			}
			if ek, present := ro["encrypted_key"]; present {
				if rec.encryptedKey, e = b64uDecode(ek, what+".encrypted_key"); e != nil {
					return nil, e
				}
			}
			j.recipients = append(j.recipients, rec)
		}
	} else {
		rec := recipient{}
		if rec.header, e = objectOrNil(v.Header, "header"); e != nil {
			return nil, e
		}
		if v.EncryptedKey != nil {
			if rec.encryptedKey, e = b64uDecode(v.EncryptedKey, "encrypted_key"); e != nil {
				return nil, e
			}
		}
		j.recipients = []recipient{rec}
	}
	if v.IV == nil || v.Tag == nil || v.Ciphertext == nil {
		return nil, fail("MALFORMED_ENVELOPE", "JWE JSON needs iv, ciphertext and tag")
	}
	if j.protectedB64 == "" {
		j.protected = map[string]any{}
	} else if j.protected, e = parseHeader(j.protectedB64); e != nil {
		return nil, e
	}
	if j.iv, e = b64uDecode(v.IV, "iv"); e != nil {
		return nil, e
	}
	if j.ct, e = b64uDecode(v.Ciphertext, "ciphertext"); e != nil {
		return nil, e
	}
	if j.tag, e = b64uDecode(v.Tag, "tag"); e != nil {
		return nil, e
	}
	return j, nil
}

func isB64urlByte(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// looksCompact: five base64url parts, the second and fourth may be empty.
func looksCompact(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 5 {
		return false
	}
	for i, p := range parts {
		if p == "" && i != 1 && i != 3 {
			return false
		}
		for k := 0; k < len(p); k++ {
			if !isB64urlByte(p[k]) {
				return false
			}
		}
	}
	return true
}

func parseCompact(s string) (*parsedJwe, *envelopeError) {
	parts := strings.Split(s, ".")
	if len(parts) != 5 {
		return nil, fail("MALFORMED_ENVELOPE", "compact JWE must have 5 parts")
	}
	j := &parsedJwe{compact: true, protectedB64: parts[0], unprotected: map[string]any{}}
	var e *envelopeError
	if j.protected, e = parseHeader(parts[0]); e != nil {
		return nil, e
	}
	rec := recipient{header: map[string]any{}}
	if rec.encryptedKey, e = b64uDecode(parts[1], "encrypted_key"); e != nil {
		return nil, e
	}
	j.recipients = []recipient{rec}
	if j.iv, e = b64uDecode(parts[2], "iv"); e != nil {
		return nil, e
	}
	if j.ct, e = b64uDecode(parts[3], "ciphertext"); e != nil {
		return nil, e
	}
	if j.tag, e = b64uDecode(parts[4], "tag"); e != nil {
		return nil, e
	}
	return j, nil
}

// joinHeader: the three header sources; a parameter in two of them is malformed.
func joinHeader(j *parsedJwe, r recipient) (map[string]any, *envelopeError) {
	out := make(map[string]any, len(j.protected)+len(j.unprotected)+len(r.header))
	for _, src := range []map[string]any{j.protected, j.unprotected, r.header} {
		for k, v := range src {
			if _, dup := out[k]; dup {
				return nil, fail("MALFORMED_ENVELOPE", fmt.Sprintf("header parameter %q appears twice", k))
			}
			out[k] = v
		}
	}
	return out, nil
}

// ---- decryption (ext-proc/core/jwe-decrypt.ts, RSA-OAEP-256 and dir) ----

type decrypted struct {
	plaintext []byte
	gcm       cipher.AEAD // the content key's cipher: reused (fresh IV) for the response
	cek       []byte
	alg, enc  string
	sessionID string
	cty       string
	compact   bool // the request's form: the response takes the same
}

func (id *identity) pickRecipient(j *parsedJwe) (recipient, map[string]any, *envelopeError) {
	if len(j.recipients) == 1 {
		h, e := joinHeader(j, j.recipients[0])
		return j.recipients[0], h, e
	}
	headers := make([]map[string]any, len(j.recipients))
	for i, r := range j.recipients {
		h, e := joinHeader(j, r)
		if e != nil {
			return recipient{}, nil, e
		}
		headers[i] = h
	}
	for i, h := range headers {
		if kid, ok := h["kid"].(string); ok && kid == id.rsaKid {
			return j.recipients[i], h, nil
		}
	}
	for i, h := range headers {
		if alg, ok := h["alg"].(string); ok && (alg == "RSA-OAEP-256" || alg == "dir") && h["kid"] == nil {
			return j.recipients[i], h, nil
		}
	}
	return recipient{}, nil, fail("UNKNOWN_KEY", "no recipient of this envelope is addressed to the app")
}

func (id *identity) decrypt(j *parsedJwe) (*decrypted, *envelopeError) {
	r, h, e := id.pickRecipient(j)
	if e != nil {
		return nil, e
	}
	for _, name := range []string{"alg", "enc"} {
		v, present := h[name]
		if !present {
			return nil, fail("MALFORMED_ENVELOPE", fmt.Sprintf("the JWE header has no %q member (altered or not a JWE header)", name))
		}
		if _, ok := v.(string); !ok {
			return nil, fail("MALFORMED_ENVELOPE", fmt.Sprintf("the JWE header's %q must be a string", name))
		}
	}
	alg, enc := h["alg"].(string), h["enc"].(string)
	if alg != "RSA-OAEP-256" && alg != "dir" {
		q, _ := json.Marshal(alg)
		return nil, &envelopeError{Code: "UNSUPPORTED_ALG", Message: fmt.Sprintf("alg %s is not supported", q), Details: map[string]any{"supported": supportedAlgs}}
	}
	keyBytes, ok := encKeyBytes[enc]
	if !ok {
		q, _ := json.Marshal(enc)
		return nil, &envelopeError{Code: "UNSUPPORTED_ENC", Message: fmt.Sprintf("enc %s is not supported", q), Details: map[string]any{"supported": contentEncs}}
	}
	if _, present := h["zip"]; present {
		return nil, fail("UNSUPPORTED_HEADER", "zip is not supported")
	}
	if _, present := h["crit"]; present {
		return nil, fail("UNSUPPORTED_HEADER", "no crit header parameter is understood")
	}
	if len(j.iv) != 12 {
		return nil, fail("MALFORMED_ENVELOPE", "iv must be 12 bytes")
	}
	if len(j.tag) != 16 {
		return nil, fail("MALFORMED_ENVELOPE", "tag must be 16 bytes")
	}
	d := &decrypted{alg: alg, enc: enc, compact: j.compact}
	kid, hasKid := h["kid"]
	switch alg {
	case "RSA-OAEP-256":
		if hasKid {
			k, ok := kid.(string)
			if !ok {
				return nil, fail("MALFORMED_ENVELOPE", "kid must be a string")
			}
			if k != id.rsaKid {
				return nil, fail("UNKNOWN_KEY", "no app key with this kid for this alg")
			}
		}
		cek, err := rsa.DecryptOAEP(sha256.New(), nil, id.rsa, r.encryptedKey, nil)
		if err != nil {
			return nil, decryptFailed()
		}
		d.cek = cek
	case "dir":
		k, ok := kid.(string)
		if !ok {
			return nil, fail("MALFORMED_ENVELOPE", "dir needs kid = session id")
		}
		if len(r.encryptedKey) != 0 {
			return nil, fail("MALFORMED_ENVELOPE", "dir must have an empty encrypted_key")
		}
		s := id.openTicket(k)
		if s == nil {
			return nil, fail("SESSION_UNKNOWN", "session is unknown or expired; establish a new one")
		}
		if s.enc != enc {
			return nil, decryptFailed()
		}
		d.cek = s.key
		d.sessionID = k
	}
	if len(d.cek) != keyBytes {
		return nil, decryptFailed()
	}
	gcm, err := newGCM(d.cek)
	if err != nil {
		return nil, decryptFailed()
	}
	aad := j.protectedB64
	if j.aadB64 != nil {
		aad += "." + *j.aadB64
	}
	sealed := make([]byte, 0, len(j.ct)+len(j.tag))
	sealed = append(append(sealed, j.ct...), j.tag...)
	// Open in place: the plaintext takes the ciphertext's buffer.
	pt, err := gcm.Open(sealed[:0], j.iv, sealed, []byte(aad))
	if err != nil {
		return nil, decryptFailed()
	}
	d.plaintext, d.gcm = pt, gcm
	if cty, ok := h["cty"].(string); ok {
		d.cty = cty
	}
	return d, nil
}

// ---- the exchange (ext-proc/core/envelope-exchange.ts) ----

func mediaType(v string) string {
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = v[:i]
	}
	return strings.ToLower(strings.TrimSpace(v))
}

func isTokenByte(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("!#$&^_.+-", c) >= 0
}

// safeCty is ext-proc's SAFE_CTY: /^[tok]+\/[tok]+(\s*;[\x20-\x7e]*)?$/.
func safeCty(s string) bool {
	i := 0
	token := func() bool {
		start := i
		for i < len(s) && isTokenByte(s[i]) {
			i++
		}
		return i > start
	}
	if !token() || i >= len(s) || s[i] != '/' {
		return false
	}
	i++
	if !token() {
		return false
	}
	if i == len(s) {
		return true
	}
	for i < len(s) && strings.IndexByte(" \t\n\v\f\r", s[i]) >= 0 {
		i++
	}
	if i >= len(s) || s[i] != ';' {
		return false
	}
	for i++; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

type expectKind int

const (
	expectNone expectKind = iota
	expectJSON
	expectCompact
	expectSniff
)

type exchange struct {
	id           *identity
	maxBodyBytes int
	expect       expectKind
	requestType  string
	wantSession  bool
	dec          *decrypted
	sessionID    string
	sessionExp   int64
	responseType string
}

type headerEdits struct {
	set    [][2]string
	remove []string
}

func (h *headerEdits) mutation() *extproc.HeaderMutation {
	if h == nil {
		return nil
	}
	m := &extproc.HeaderMutation{RemoveHeaders: h.remove}
	for _, kv := range h.set {
		m.SetHeaders = append(m.SetHeaders, &corev3.HeaderValueOption{
			Header:       &corev3.HeaderValue{Key: kv[0], RawValue: []byte(kv[1])},
			AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
		})
	}
	return m
}

func immediate(e *envelopeError) *extproc.ProcessingResponse {
	body, _ := json.Marshal(e)
	return &extproc.ProcessingResponse{Response: &extproc.ProcessingResponse_ImmediateResponse{ImmediateResponse: &extproc.ImmediateResponse{
		Status:  &typev3.HttpStatus{Code: e.httpStatus()},
		Headers: (&headerEdits{set: [][2]string{{"content-type", "application/json"}}}).mutation(),
		Body:    body,
		Details: "aenv_ext_proc_" + strings.ToLower(e.Code),
	}}}
}

// skipAll: a plain request needs nothing more (allow_mode_override).
var skipAll = &procmode.ProcessingMode{
	RequestHeaderMode:   procmode.ProcessingMode_SEND,
	ResponseHeaderMode:  procmode.ProcessingMode_SKIP,
	RequestBodyMode:     procmode.ProcessingMode_NONE,
	ResponseBodyMode:    procmode.ProcessingMode_NONE,
	RequestTrailerMode:  procmode.ProcessingMode_SKIP,
	ResponseTrailerMode: procmode.ProcessingMode_SKIP,
}
var skipResponseBody = &procmode.ProcessingMode{
	RequestHeaderMode:   procmode.ProcessingMode_SEND,
	ResponseHeaderMode:  procmode.ProcessingMode_SEND,
	RequestBodyMode:     procmode.ProcessingMode_NONE,
	ResponseBodyMode:    procmode.ProcessingMode_NONE,
	RequestTrailerMode:  procmode.ProcessingMode_SKIP,
	ResponseTrailerMode: procmode.ProcessingMode_SKIP,
}

// headerValues picks the named headers (Envoy sends lower-case keys, values in raw_value).
func headerValues(hm *corev3.HeaderMap, names ...string) []*string {
	out := make([]*string, len(names))
	for _, h := range hm.GetHeaders() {
		for i, n := range names {
			if out[i] == nil && strings.EqualFold(h.Key, n) {
				v := h.Value
				if v == "" {
					v = string(h.RawValue)
				}
				out[i] = &v
			}
		}
	}
	return out
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func (x *exchange) onRequestHeaders(hs *extproc.HttpHeaders) *extproc.ProcessingResponse {
	v := headerValues(hs.GetHeaders(), "content-type", "content-length", sessionHeader)
	t := mediaType(deref(v[0]))
	x.requestType = t
	switch t {
	case "application/jose+json":
		x.expect = expectJSON
	case "application/jose":
		x.expect = expectCompact
	case "application/json", "text/plain", "":
		x.expect = expectSniff
	}
	pass := &extproc.ProcessingResponse{Response: &extproc.ProcessingResponse_RequestHeaders{RequestHeaders: &extproc.HeadersResponse{Response: &extproc.CommonResponse{}}}, ModeOverride: skipAll}
	if hs.GetEndOfStream() {
		if x.expect == expectJSON || x.expect == expectCompact {
			return immediate(fail("MALFORMED_ENVELOPE", fmt.Sprintf("a %s request needs a JWE body", t)))
		}
		return pass
	}
	if x.expect == expectNone {
		return pass
	}
	if v[1] != nil {
		if n, err := strconv.ParseFloat(strings.TrimSpace(*v[1]), 64); err == nil && n > float64(x.maxBodyBytes) {
			return immediate(fail("BODY_TOO_LARGE", fmt.Sprintf("request body exceeds %d bytes", x.maxBodyBytes)))
		}
	}
	x.wantSession = strings.ToLower(deref(v[2])) == "new"
	return &extproc.ProcessingResponse{Response: &extproc.ProcessingResponse_RequestHeaders{RequestHeaders: &extproc.HeadersResponse{Response: &extproc.CommonResponse{}}}}
}

// parse returns nil, nil for a sniffed body that is no envelope.
func (x *exchange) parse(body []byte) (*parsedJwe, *envelopeError) {
	trimmed := bytes.TrimLeft(body, " \n\r\t")
	if x.expect == expectCompact || (x.expect == expectSniff && (len(trimmed) == 0 || trimmed[0] != '{')) {
		text := strings.TrimSpace(string(body))
		if looksCompact(text) {
			return parseCompact(text)
		}
		if x.expect == expectCompact {
			return nil, fail("MALFORMED_ENVELOPE", "body is not a compact JWE")
		}
		return nil, nil
	}
	var v jweJSON
	if err := json.Unmarshal(body, &v); err != nil {
		if x.expect == expectJSON {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				return nil, fail("MALFORMED_ENVELOPE", "JWE JSON must be an object")
			}
			return nil, fail("MALFORMED_ENVELOPE", "body is not valid JSON")
		}
		return nil, nil // sniffed: not JSON, or not an object, so not an envelope
	}
	if x.expect == expectSniff && !v.hasJweShape() {
		return nil, nil
	}
	return parseJSONJwe(&v)
}

func (x *exchange) onRequestBody(body []byte) *extproc.ProcessingResponse {
	cont := func(edits *headerEdits, replace []byte) *extproc.ProcessingResponse {
		c := &extproc.CommonResponse{HeaderMutation: edits.mutation()}
		if replace != nil {
			c.BodyMutation = &extproc.BodyMutation{Mutation: &extproc.BodyMutation_Body{Body: replace}}
		}
		return &extproc.ProcessingResponse{Response: &extproc.ProcessingResponse_RequestBody{RequestBody: &extproc.BodyResponse{Response: c}}}
	}
	if len(body) > x.maxBodyBytes {
		return immediate(fail("BODY_TOO_LARGE", fmt.Sprintf("request body exceeds %d bytes", x.maxBodyBytes)))
	}
	j, e := x.parse(body)
	if e != nil {
		return immediate(e)
	}
	if j == nil {
		return cont(nil, nil) // plain (sniffed, no envelope): passes as it is
	}
	d, e := x.id.decrypt(j)
	if e != nil {
		return immediate(e)
	}
	x.dec = d
	if x.wantSession && d.alg != "dir" {
		var err error
		if x.sessionID, x.sessionExp, err = x.id.createSession(d.cek, d.enc); err != nil {
			return immediate(decryptFailed())
		}
	}
	cty := "application/octet-stream"
	if d.cty != "" && safeCty(d.cty) {
		cty = d.cty
	} else if x.requestType == "application/json" {
		cty = "application/json"
	}
	return cont(&headerEdits{set: [][2]string{{"content-type", cty}, {"content-length", strconv.Itoa(len(d.plaintext))}}, remove: []string{sessionHeader}}, d.plaintext)
}

func (x *exchange) onResponseHeaders(hs *extproc.HttpHeaders) *extproc.ProcessingResponse {
	if ct := headerValues(hs.GetHeaders(), "content-type")[0]; ct != nil && safeCty(*ct) {
		x.responseType = *ct
	}
	c := &extproc.CommonResponse{}
	if x.sessionID != "" {
		c.HeaderMutation = (&headerEdits{set: [][2]string{{sessionHeader, x.sessionID}, {sessionExpiresHeader, strconv.FormatInt(x.sessionExp/1000, 10)}}}).mutation()
	}
	res := &extproc.ProcessingResponse{Response: &extproc.ProcessingResponse_ResponseHeaders{ResponseHeaders: &extproc.HeadersResponse{Response: c}}}
	if x.dec == nil {
		res.ModeOverride = skipResponseBody // plain: the response body need not come here
	}
	return res
}

// jsonString writes s as JSON.stringify does for printable ASCII (safeCty's range):
// only '"' and '\' are escaped (encoding/json would also escape <, > and &).
func jsonString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
}

// encryptResponse: protected {"alg":"dir","enc":..,"kid"?:..,"cty"?:..}, AAD =
// ASCII(protected), the request's content key, a fresh random 12-byte IV, in
// the request's form (ext-proc/core/response-encrypt.ts, rfc7516).
func (x *exchange) encryptResponse(plaintext []byte) (body []byte, contentType string, err error) {
	var h strings.Builder
	h.WriteString(`{"alg":"dir","enc":`)
	jsonString(&h, x.dec.enc)
	if x.dec.sessionID != "" {
		h.WriteString(`,"kid":`)
		jsonString(&h, x.dec.sessionID)
	}
	if x.responseType != "" {
		h.WriteString(`,"cty":`)
		jsonString(&h, x.responseType)
	}
	h.WriteByte('}')
	p := b64.EncodeToString([]byte(h.String()))
	var iv [12]byte
	if _, err = rand.Read(iv[:]); err != nil {
		return nil, "", err
	}
	sealed := x.dec.gcm.Seal(make([]byte, 0, len(plaintext)+16), iv[:], plaintext, []byte(p))
	ct, tag := sealed[:len(plaintext)], sealed[len(plaintext):]
	enc := func(out []byte, b []byte) []byte {
		n := len(out)
		out = out[:n+b64.EncodedLen(len(b))]
		b64.Encode(out[n:], b)
		return out
	}
	size := len(p) + b64.EncodedLen(12) + b64.EncodedLen(len(ct)) + b64.EncodedLen(16) + 64
	out := make([]byte, 0, size)
	if x.dec.compact {
		out = append(append(out, p...), '.', '.')
		out = append(enc(out, iv[:]), '.')
		out = append(enc(out, ct), '.')
		return enc(out, tag), "application/jose", nil
	}
	out = append(append(append(out, `{"protected":"`...), p...), `","iv":"`...)
	out = append(enc(out, iv[:]), `","ciphertext":"`...)
	out = append(enc(out, ct), `","tag":"`...)
	out = append(enc(out, tag), `"}`...)
	contentType = "application/json"
	if x.requestType == "application/jose+json" {
		contentType = "application/jose+json"
	}
	return out, contentType, nil
}

func (x *exchange) onResponseBody(body []byte) *extproc.ProcessingResponse {
	c := &extproc.CommonResponse{}
	if x.dec != nil {
		out, ct, err := x.encryptResponse(body)
		if err != nil {
			return immediate(fail("RESPONSE_ENCRYPT_FAILED", "response could not be encrypted"))
		}
		c.HeaderMutation = (&headerEdits{set: [][2]string{{"content-type", ct}, {"content-length", strconv.Itoa(len(out))}}, remove: []string{"content-encoding", "etag", "content-md5"}}).mutation()
		c.BodyMutation = &extproc.BodyMutation{Mutation: &extproc.BodyMutation_Body{Body: out}}
	}
	return &extproc.ProcessingResponse{Response: &extproc.ProcessingResponse_ResponseBody{ResponseBody: &extproc.BodyResponse{Response: c}}}
}

// ---- gRPC transport ----

type server struct {
	extproc.UnimplementedExternalProcessorServer
	id           *identity
	maxBodyBytes int
}

func (s *server) Process(stream extproc.ExternalProcessor_ProcessServer) error {
	x := &exchange{id: s.id, maxBodyBytes: s.maxBodyBytes}
	done := false // an immediate response was sent: Envoy sends nothing more but its close
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if done {
			continue
		}
		var res *extproc.ProcessingResponse
		switch r := req.Request.(type) {
		case *extproc.ProcessingRequest_RequestHeaders:
			res = x.onRequestHeaders(r.RequestHeaders)
		case *extproc.ProcessingRequest_RequestBody:
			res = x.onRequestBody(r.RequestBody.GetBody())
		case *extproc.ProcessingRequest_ResponseHeaders:
			res = x.onResponseHeaders(r.ResponseHeaders)
		case *extproc.ProcessingRequest_ResponseBody:
			res = x.onResponseBody(r.ResponseBody.GetBody())
		case *extproc.ProcessingRequest_RequestTrailers:
			res = &extproc.ProcessingResponse{Response: &extproc.ProcessingResponse_RequestTrailers{RequestTrailers: &extproc.TrailersResponse{}}}
		case *extproc.ProcessingRequest_ResponseTrailers:
			res = &extproc.ProcessingResponse{Response: &extproc.ProcessingResponse_ResponseTrailers{ResponseTrailers: &extproc.TrailersResponse{}}}
		default:
			continue
		}
		if _, ok := res.Response.(*extproc.ProcessingResponse_ImmediateResponse); ok {
			done = true
		}
		if err := stream.Send(res); err != nil {
			return err
		}
	}
}

func main() {
	port := flag.Int("port", 0, "TCP port on 127.0.0.1 (0 picks one)")
	socket := flag.String("socket", "", "a Unix socket path instead of TCP")
	identityDir := flag.String("identity-dir", "", "the app identity directory (rsa.key.pem), as ext-proc's --identity-dir")
	maxBodyBytes := flag.Int("max-body-bytes", 1<<20, "request body limit (ext-proc's maxBodyBytes)")
	ttl := flag.Int("session-ttl-seconds", 600, "lifetime of the sessions this server creates")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile (go tool pprof) here, until SIGTERM or SIGINT")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "cpuprofile:", err)
			os.Exit(1)
		}
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		go func() {
			<-sig
			pprof.StopCPUProfile()
			_ = f.Close()
			os.Exit(0)
		}()
	}
	if *identityDir == "" {
		fmt.Fprintln(os.Stderr, "--identity-dir is required")
		os.Exit(2)
	}
	id, err := loadIdentity(*identityDir, time.Duration(*ttl)*time.Second)
	if err != nil {
		fmt.Fprintln(os.Stderr, "identity:", err)
		os.Exit(1)
	}
	var l net.Listener
	if *socket != "" {
		_ = os.Remove(*socket)
		l, err = net.Listen("unix", *socket)
	} else {
		l, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// The same HTTP/2 receive windows as ext-proc (ext-proc/start.ts): a stream
	// window that holds the largest side-stream message, 16 of them per connection
	// up to 64 MiB.
	streamWindow := min(math.MaxInt32, max(65535, int(math.Ceil(float64(*maxBodyBytes)*1.4))+65536))
	connWindow := max(streamWindow, min(64<<20, streamWindow*16))
	g := grpc.NewServer(
		grpc.MaxRecvMsgSize(*maxBodyBytes*2+65536),
		grpc.MaxSendMsgSize(64<<20),
		grpc.InitialWindowSize(int32(streamWindow)),
		grpc.InitialConnWindowSize(int32(connWindow)),
	)
	extproc.RegisterExternalProcessorServer(g, &server{id: id, maxBodyBytes: *maxBodyBytes})
	fmt.Printf("peer ext_proc gRPC on %s\n", l.Addr())
	if err := g.Serve(l); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
