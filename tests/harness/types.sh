# shellcheck shell=bash
# Every MariaDB 10.11 column type with its edge values, for tests that push
# them through ferry (binlog decoder, link end to end). Source it; it only
# sets variables:
#   TYPES_COLUMNS  "name|definition|SQL rendering" per column; the rendering
#                  is canonical text (HEX for strings and binary data), so two
#                  servers render equal values equally
#   TYPES_ALL      the column names, comma separated, in that order
#   TYPES_ROWS     five rows for INSERT ... (TYPES_ALL) VALUES TYPES_ROWS, ids
#                  1-5 (also in the second column, k): all NULL, minima,
#                  maxima (incl. a 1 MiB LONGBLOB), zero and special values,
#                  ordinary values with fractions; insert them with
#                  sql_mode='' and time_zone='+00:00'

# name, definition, SQL rendering (the same canonical text binlog_types prints)
TYPES_COLUMNS=(
    "id|INT NOT NULL PRIMARY KEY|id"
    "k|INT NOT NULL|k"
    "ti|TINYINT|ti" "tiu|TINYINT UNSIGNED|tiu" "si|SMALLINT|si" "siu|SMALLINT UNSIGNED|siu"
    "mi|MEDIUMINT|mi" "miu|MEDIUMINT UNSIGNED|miu" "ii|INT|ii" "iiu|INT UNSIGNED|iiu"
    "bi|BIGINT|bi" "biu|BIGINT UNSIGNED|biu"
    "d65|DECIMAL(65,30)|d65" "d10|DECIMAL(10,2)|d10" "d5|DECIMAL(5,0)|d5" "d38|DECIMAL(38,38)|d38"
    "f|FLOAT|f" "dbl|DOUBLE|dbl"
    "b1|BIT(1)|b1+0" "b10|BIT(10)|b10+0" "b64|BIT(64)|b64+0"
    "y|YEAR|y" "dt|DATE|dt"
    "tm|TIME|tm" "tm3|TIME(3)|tm3" "tm6|TIME(6)|tm6"
    "dtm|DATETIME|dtm" "dtm2|DATETIME(2)|dtm2" "dtm6|DATETIME(6)|dtm6"
    "ts|TIMESTAMP NULL|ts" "ts3|TIMESTAMP(3) NULL|ts3" "ts6|TIMESTAMP(6) NULL|ts6"
    "c|CHAR(10)|HEX(CONVERT(c USING utf8mb4))"
    "vc|VARCHAR(300)|HEX(CONVERT(vc USING utf8mb4))"
    "tt|TINYTEXT|HEX(CONVERT(tt USING utf8mb4))" "tx|TEXT|HEX(CONVERT(tx USING utf8mb4))"
    "mt|MEDIUMTEXT|HEX(CONVERT(mt USING utf8mb4))" "lt|LONGTEXT|HEX(CONVERT(lt USING utf8mb4))"
    "l1|VARCHAR(20) CHARACTER SET latin1|HEX(CONVERT(l1 USING utf8mb4))"
    "lc|CHAR(5) CHARACTER SET latin1|HEX(CONVERT(lc USING utf8mb4))"
    "u3|VARCHAR(20) CHARACTER SET utf8mb3|HEX(CONVERT(u3 USING utf8mb4))"
    "gk|VARCHAR(20) CHARACTER SET gbk|HEX(CONVERT(gk USING utf8mb4))"
    "cy|VARCHAR(20) CHARACTER SET cp1251|HEX(CONVERT(cy USING utf8mb4))"
    "u2|VARCHAR(20) CHARACTER SET ucs2|HEX(CONVERT(u2 USING utf8mb4))"
    "u16|VARCHAR(20) CHARACTER SET utf16|HEX(CONVERT(u16 USING utf8mb4))"
    "u32|CHAR(4) CHARACTER SET utf32|HEX(CONVERT(u32 USING utf8mb4))"
    "bn|BINARY(8)|HEX(bn)" "vb|VARBINARY(20)|HEX(vb)" "tb|TINYBLOB|HEX(tb)" "bl|BLOB|HEX(bl)"
    "mb|MEDIUMBLOB|HEX(mb)" "lb|LONGBLOB|HEX(lb)"
    "e|ENUM('a','b c','ü')|HEX(CONVERT(e USING utf8mb4))"
    "s|SET('x','y','z')|HEX(CONVERT(s USING utf8mb4))"
    "j|JSON|HEX(j)"
    "g|GEOMETRY|CONCAT(ST_SRID(g),':',HEX(ST_AsWKB(g)))"
    "p|POINT|CONCAT(ST_SRID(p),':',HEX(ST_AsWKB(p)))"
    "i6|INET6|HEX(CAST(i6 AS BINARY(16)))"
    "uu|UUID|HEX(CAST(uu AS BINARY(16)))"
)

# Row values: NULLs, minima, maxima, zero / special values, fractions.
TYPES_ALL="id,k,ti,tiu,si,siu,mi,miu,ii,iiu,bi,biu,d65,d10,d5,d38,f,dbl,b1,b10,b64,y,dt,tm,tm3,tm6,dtm,dtm2,dtm6,ts,ts3,ts6"
TYPES_ALL="$TYPES_ALL,c,vc,tt,tx,mt,lt,l1,lc,u3,gk,cy,u2,u16,u32,bn,vb,tb,bl,mb,lb,e,s,j,g,p,i6,uu"
read -r -d '' TYPES_ROWS <<'EOF' || true
(1,1,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,
 NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL),
(2,2,-128,0,-32768,0,-8388608,0,-2147483648,0,-9223372036854775808,0,
 -99999999999999999999999999999999999.999999999999999999999999999999,-99999999.99,-99999,-0.99999999999999999999999999999999999999,
 -3.40282e38,-1.7976931348623157e308,0,0,0,1901,'1000-01-01','-838:59:59','-838:59:59.000','-838:59:59.000000',
 '1000-01-01 00:00:00','1000-01-01 00:00:00.00','1000-01-01 00:00:00.000000','1970-01-01 00:00:01','1970-01-01 00:00:01.000','1970-01-01 00:00:01.000001',
 '','','','','','','','','','','','','','','',x'','','','','','a','','[]',ST_GeomFromText('POINT(0 0)'),POINT(0,0),'::','00000000-0000-0000-0000-000000000000'),
(3,3,127,255,32767,65535,8388607,16777215,2147483647,4294967295,9223372036854775807,18446744073709551615,
 99999999999999999999999999999999999.999999999999999999999999999999,99999999.99,99999,0.99999999999999999999999999999999999999,
 3.40282e38,1.7976931348623157e308,1,1023,18446744073709551615,2155,'9999-12-31','838:59:59','838:59:59.000','838:59:59.000000',
 '9999-12-31 23:59:59','9999-12-31 23:59:59.99','9999-12-31 23:59:59.999999','2038-01-19 03:14:07','2038-01-19 03:14:07.999','2038-01-19 03:14:07.999999',
 'abcdefghij',REPEAT('é',300),REPEAT('t',255),REPEAT('x',1000),REPEAT('m',70000),REPEAT('l',70000),
 'Grüße €‚ƒ','ÿü  ','utf8mb3 ü','中文字符','Привет','∆˚ø¨´…','😀 𝄞','😀ü',
 x'ffffffffffffffff',x'00ff00ff',x'01',x'0000',REPEAT(x'ab',70000),REPEAT(x'00ff',524288),
 'ü','x,y,z','{"a": [1, 2.5, "é"], "b": {"c": null}}',ST_GeomFromText('LINESTRING(1 1,2 2,3 5)',4326),ST_PointFromText('POINT(3 4)',3857),
 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff','ffffffff-ffff-ffff-ffff-ffffffffffff'),
(4,4,0,1,0,1,0,1,0,1,0,1,0,0.00,0,0,0,0,0,0,0,0,'0000-00-00','00:00:00','-00:00:00.001','-00:00:00.500000',
 '0000-00-00 00:00:00','0000-00-00 00:00:00.00','0000-00-00 00:00:00.000000','0000-00-00 00:00:00','0000-00-00 00:00:00.000','0000-00-00 00:00:00.000000',
 ' ','trailing  ','tab\there','line\nbreak','quote\'s','back\\slash','','','','','','','','',
 x'6162',x'00',x'',x'00',x'',x'',
 'b c','','"just a string"',ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 0))'),NULL,'2001:db8::ff00:42:8329','123e4567-e89b-12d3-a456-426614174000'),
(5,5,-1,127,-1,32768,-1,8388608,-1,2147483648,-1,9223372036854775808,
 -0.000000000000000000000000000001,-0.01,-1,-0.00000000000000000000000000000000000001,
 1.5,-2.25,1,682,9223372036854775808,1999,'2024-02-29','-12:34:56','-01:02:03.456','-10:23:45.123456',
 '2023-11-30 12:34:56','2023-11-30 12:34:56.12','2023-11-30 12:34:56.123456','2023-11-30 12:34:56','2023-11-30 12:34:56.123','2023-11-30 12:34:56.123456',
 'x','y','z','w','v','u','a','b','c','d','e','f','g','h',
 x'0102030000000000',x'ff',x'7f',x'80',x'81',x'82',
 'a','y','{"n": -1.5e-7, "big": 18446744073709551615}',NULL,ST_PointFromText('POINT(-1.5 2.25)'),'::ffff:1.2.3.4','00112233-4455-6677-8899-aabbccddeeff')
EOF

