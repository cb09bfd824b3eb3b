package shred

// MasterOf is the keyring's master key, for tests that make a second
// process's keyring.
func MasterOf(k *Keyring) MasterKey { return k.master }
