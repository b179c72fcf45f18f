package entitlement

// WaitQueuedRefreshes waits until the refreshes Check queued for stale
// licenses are enqueued as jobs.
func (s *Service) WaitQueuedRefreshes() { s.cache().refreshWG.Wait() }
