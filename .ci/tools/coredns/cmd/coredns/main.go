// Command coredns is CoreDNS with only the plugins the local environment's
// cluster DNS needs: names of Services and pods from the API server, nothing
// forwarded (no name leaves the machine), health and readiness endpoints.
// A full CoreDNS build pulls every cloud provider's SDK; this one does not.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/ready"
	"github.com/coredns/coredns/coremain"
)

// The plugins' order, as in CoreDNS's own plugin.cfg: a request passes them
// in this order.
var directives = []string{"bind", "ready", "health", "errors", "cache", "kubernetes"}

func init() {
	dnsserver.Directives = directives
}

func main() {
	coremain.Run()
}
