package webapp

import "time"

// SetLiveWriteTimeout changes the deadline of each write of a's live
// views; call it before serving.
func SetLiveWriteTimeout(a *App, d time.Duration) { a.liveWriteTimeout.Store(int64(d)) }

// SetLiveHeartbeat changes the interval of a's live views' heartbeats;
// call it before serving.
func SetLiveHeartbeat(a *App, d time.Duration) { a.heartbeat.Store(int64(d)) }
