# convert: xfeat convert between xl.cfg and libvirt domain XML (convert/,
# cmd/xfeat/convert). Its tests check every XML written against libvirt's
# own RNG schema with virt-xml-validate (libvirt-clients), which runs
# xmllint (libxml2-utils).
APT_PACKAGES += libvirt-clients libxml2-utils
FUZZ_TARGETS += ./convert:FuzzFromLibvirt ./convert:FuzzToLibvirt
