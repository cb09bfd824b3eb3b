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
