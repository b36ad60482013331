// Command client is the Xen test's HTTP client in dom0 (package xenlab): it waits for the
// domU's page and moves package payload's stream both ways, checking its SHA-256.
//
//	client wait URL SECONDS     GET URL until it answers 200, then print the page
//	client get URL BYTES LABEL  GET URL/blob?n=BYTES and check the digest of the body
//	client put URL BYTES LABEL  POST BYTES to URL/sink and check the digest it answers
//
// It prints one line per command, starting with "XENLAB ", and exits 1 on a failure.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/unikit/unikit/internal/xenlab/payload"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Printf("XENLAB client FAIL %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) < 3 {
		return fmt.Errorf("usage: client wait URL SECONDS | get URL BYTES LABEL | put URL BYTES LABEL")
	}
	cmd, url := args[0], strings.TrimSuffix(args[1], "/")
	n, err := strconv.ParseInt(args[2], 10, 64)
	if err != nil {
		return err
	}
	label := ""
	if len(args) > 3 {
		label = args[3]
	}
	switch cmd {
	case "wait":
		return wait(url, time.Duration(n)*time.Second)
	case "get":
		return get(url, n, label)
	case "put":
		return put(url, n, label)
	}
	return fmt.Errorf("unknown command %q", cmd)
}

// wait polls url until it answers 200.
func wait(url string, limit time.Duration) error {
	c := &http.Client{Timeout: 5 * time.Second}
	start := time.Now()
	for {
		resp, err := c.Get(url + "/")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				fmt.Printf("XENLAB page seconds=%.1f %s\n", time.Since(start).Seconds(), bytes.TrimSpace(body))
				return nil
			}
		}
		if time.Since(start) > limit {
			return fmt.Errorf("no page at %s within %v: %v", url, limit, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// get downloads n bytes of the stream and checks them.
func get(url string, n int64, label string) error {
	start := time.Now()
	resp, err := http.Get(fmt.Sprintf("%s/blob?n=%d", url, n))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	h := sha256.New()
	got, err := io.Copy(h, resp.Body)
	took := time.Since(start)
	if err != nil {
		return fmt.Errorf("after %d bytes: %w", got, err)
	}
	want := payload.Sum(n)
	ok := got == n && bytes.Equal(h.Sum(nil), want[:])
	line(label, "down", got, ok, took)
	if !ok {
		return fmt.Errorf("downloaded %d bytes of %d, digest %x", got, n, h.Sum(nil))
	}
	return nil
}

// put uploads n bytes of the stream and checks the digest the server computed.
func put(url string, n int64, label string) error {
	data, err := io.ReadAll(payload.Reader(n))
	if err != nil {
		return err
	}
	start := time.Now()
	req, err := http.NewRequest(http.MethodPost, url+"/sink", bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.ContentLength = n
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	took := time.Since(start)
	if err != nil {
		return err
	}
	want := payload.Sum(n)
	ok := resp.StatusCode == http.StatusOK && strings.TrimSpace(string(body)) == fmt.Sprintf("%s %d", hex.EncodeToString(want[:]), n)
	line(label, "up", n, ok, took)
	if !ok {
		return fmt.Errorf("server answered %s %q", resp.Status, body)
	}
	return nil
}

// line prints a transfer's verdict and rate.
func line(label, dir string, n int64, ok bool, took time.Duration) {
	verdict := "ok"
	if !ok {
		verdict = "BAD"
	}
	fmt.Printf("XENLAB xfer front=%s dir=%s bytes=%d sha256=%s seconds=%.2f mbit_s=%.1f\n",
		label, dir, n, verdict, took.Seconds(), float64(n)*8/took.Seconds()/1e6)
}
