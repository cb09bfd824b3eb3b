package shred

import "context"

// MasterOf is the keyring's master key, for tests that make a second
// process's keyring.
func MasterOf(k *Keyring) MasterKey { return k.master }

// SealV1 seals text as the first version did (the decoded text, under
// the version-less AAD), for the test that such values still open.
func SealV1(k *Keyring, familyID, eventID, field, text string) (string, error) {
	_, a, err := k.familyKey(context.Background(), familyID)
	if err != nil {
		return "", err
	}
	return seal(a, PrefixV1, KeyID(familyID), eventID, field, []byte(text))
}

// MakeKey makes a family's data key, as its first sealed field would.
func MakeKey(k *Keyring, familyID string) error {
	_, _, err := k.familyKey(context.Background(), familyID)
	return err
}

// RecoverField opens the sealed value v of field of event eventID with
// the data key found wrapped by m: what anyone holding m and a copy of the
// key's message could do.
func RecoverField(m MasterKey, keyID, eventID, field string, wrapped, v []byte) ([]byte, error) {
	dk, err := m.unwrap(keyID, wrapped)
	if err != nil {
		return nil, err
	}
	a, err := newGCM(dk)
	if err != nil {
		return nil, err
	}
	return openField(a, keyID, eventID, field, v)
}

// RewrapValue is what a rotation stores for a key: wrapped, now by old,
// rewrapped by m. For the test of a rotation interrupted half-way.
func RewrapValue(old, m MasterKey, keyID string, wrapped []byte) ([]byte, error) {
	dk, err := old.unwrap(keyID, wrapped)
	if err != nil {
		return nil, err
	}
	return m.wrap(keyID, dk)
}
