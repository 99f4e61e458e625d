package esp

import crand "crypto/rand"

func cryptoRandRead(b []byte) { _, _ = crand.Read(b) }
