// Command etcdctl is etcd's client command line, from the go.etcd.io/etcd/etcdctl
// module for the same reason as cmd/etcd; the etcd image carries it so that
// an operator (or a test) can ask a member from inside its pod.
package main

import "go.etcd.io/etcd/etcdctl/v3/ctlv3"

func main() {
	ctlv3.MustStart()
}
